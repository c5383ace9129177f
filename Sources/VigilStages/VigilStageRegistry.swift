import VigilPipeline
import VigilVision

extension StageRegistry {
    /// The engine's stages plus Vigil's own: `validate` and `detect` (and, as they land, `threats` and `analytics`).
    public static let vigil: StageRegistry = {
        var registry = StageRegistry.builtIn
        registry.register("validate") { configuration in
            ValidateStage(validator: ImageValidator(rules: try ValidationRules(configuration)))
        }
        registry.register("detect") { configuration in
            DetectStage(detector: try Detector(try DetectStage.configuration(configuration)))
        }
        return registry
    }()
}
