import VigilPipeline

extension StageRegistry {
    /// The engine's stages plus Vigil's own: `validate` (and, as they land, `detect`, `threats`, `analytics`).
    public static let vigil: StageRegistry = {
        var registry = StageRegistry.builtIn
        registry.register("validate") { configuration in
            ValidateStage(validator: ImageValidator(rules: try ValidationRules(configuration)))
        }
        return registry
    }()
}
