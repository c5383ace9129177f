import VigilPipeline
import VigilVision

extension StageRegistry {
    /// The engine's stages plus Vigil's own: `validate`, `detect`, `threats` and `analytics`.
    public static let vigil: StageRegistry = {
        var registry = StageRegistry.builtIn
        registry.register("validate") { configuration in
            ValidateStage(validator: ImageValidator(rules: try ValidationRules(configuration)))
        }
        registry.register("detect") { configuration in
            DetectStage(detector: try Detector(try DetectStage.configuration(configuration)))
        }
        registry.register("threats") { configuration in try ThreatsStage(configuration) }
        registry.register("analytics") { configuration in try AnalyticsStage(configuration) }
        return registry
    }()
}
