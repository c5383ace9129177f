import VigilPipeline
import VigilVision

extension StageRegistry {
    /// The engine's stages plus Vigil's own: `validate`, `detect`, `threats` and `analytics`.
    public static let vigil: StageRegistry = {
        var registry = StageRegistry.builtIn
        registry.register("validate") { configuration in
            // `shareDecoded: false` keeps the decode to the colour check's 1/8 scale (see DecodedImageCache).
            let share = try configuration.option("shareDecoded", default: true) { Bool($0) }
            return ValidateStage(
                validator: ImageValidator(rules: try ValidationRules(configuration), sharing: share ? .shared : nil))
        }
        registry.register("detect") { configuration in
            let detector = try DetectStage.configuration(configuration)
            if let input = try DetectStage.modelInput(configuration) {
                return DetectStage(modelInput: input, configuration: detector)
            }
            return DetectStage(detector: try Detector(detector))
        }
        registry.register("threats") { configuration in try ThreatsStage(configuration) }
        registry.register("analytics") { configuration in try AnalyticsStage(configuration) }
        return registry
    }()
}
