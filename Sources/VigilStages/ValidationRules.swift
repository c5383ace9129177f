import VigilPipeline

/// What makes an image valid (docs/CONTRACT.md). Every threshold can be set in the pipeline spec's stage
/// options, e.g. `options: {minWidth: 640, minChromaSpread: 3}`.
public struct ValidationRules: Sendable, Hashable, Codable {
    public var minWidth = 320
    public var minHeight = 240
    public var maxPixels = 50_000_000
    public var maxBytes = 20_000_000
    /// How far in the future a name's time may be (camera clocks drift).
    public var maxFutureSeconds = 300
    /// The least chroma spread of a colour image (see `ColourStatistics`).
    public var minChromaSpread = 4.0

    public init() {}

    /// The validate stage's options: these rules, and `shareDecoded` (read by the stage registry).
    static let optionNames: Set<String> = [
        "minWidth", "minHeight", "maxPixels", "maxBytes", "maxFutureSeconds", "minChromaSpread", "shareDecoded",
    ]

    /// Rules from stage options; an unknown option or a bad value is a `bad-stage-option` error.
    public init(_ configuration: StageConfiguration) throws {
        try configuration.allowOnly(Self.optionNames)
        let positive: (String) -> Int? = { Int($0).flatMap { $0 > 0 ? $0 : nil } }
        minWidth = try configuration.option("minWidth", default: minWidth, positive)
        minHeight = try configuration.option("minHeight", default: minHeight, positive)
        maxPixels = try configuration.option("maxPixels", default: maxPixels, positive)
        maxBytes = try configuration.option("maxBytes", default: maxBytes, positive)
        maxFutureSeconds = try configuration.option("maxFutureSeconds", default: maxFutureSeconds) {
            Int($0).flatMap { $0 >= 0 ? $0 : nil }
        }
        minChromaSpread = try configuration.option("minChromaSpread", default: minChromaSpread) {
            Double($0).flatMap { $0 >= 0 && $0.isFinite ? $0 : nil }
        }
    }
}
