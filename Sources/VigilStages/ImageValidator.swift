import Foundation
import VigilVision

/// Judges one uploaded image against the naming contract and the validation rules. Cheap by design: the
/// header is read before pixels, and JPEGs are decoded at 1/8 scale (the whole stream is still decoded, so
/// damage anywhere is found) for the colour check.
///
/// With a `sharing` cache that a detector in this process has told its input size (`DecodedImageCache`), a
/// valid JPEG is decoded at the scale that detector decodes at instead, the colour measured on it reduced to
/// 1/8, and the pixels are left in the cache for the detector: one decode per image instead of two.
public struct ImageValidator: Sendable {
    public var rules: ValidationRules
    public let clock: @Sendable () -> Date
    /// Whether `clock` is the system's (no clock was given): two such validators with equal rules judge a
    /// frame alike, so one's verdict can stand for the other's (`FramePrefetch`).
    public let judgesBySystemClock: Bool
    public var sharing: DecodedImageCache?

    /// `clock` (default: the system's) is what a name's time is checked against.
    public init(
        rules: ValidationRules = ValidationRules(), clock: (@Sendable () -> Date)? = nil,
        sharing: DecodedImageCache? = nil
    ) {
        self.rules = rules
        self.clock = clock ?? { Date() }
        judgesBySystemClock = clock == nil
        self.sharing = sharing
    }

    /// What was measured of an image on the way to a verdict (absent: not reached).
    public struct Measurements: Sendable, Hashable, Codable {
        public var bytes: Int
        public var format: ImageFormat?
        public var width: Int?
        public var height: Int?
        public var components: Int?
        public var chromaSpread: Double?
        public var meanChroma: Double?
    }

    /// Why an image is invalid: a stable code, a sentence, the rule and its threshold where one applies.
    public struct Rejection: Sendable, Hashable, Codable {
        public var code: String
        public var message: String
        public var rule: String?
        public var threshold: String?
    }

    public struct Verdict: Sendable, Hashable, Codable {
        public var name: ImageName?
        public var rejection: Rejection?
        public var measured: Measurements
        public var isValid: Bool { rejection == nil }
    }

    /// `key` is the image's content hash, under which its pixels are shared (when `sharing` is set).
    public func judge(name fileName: String, data: Data, key: String? = nil) -> Verdict {
        var measured = Measurements(bytes: data.count)
        func reject(_ code: String, _ message: String, rule: String? = nil, threshold: String? = nil) -> Verdict {
            Verdict(
                name: try? ImageName.parse(fileName),
                rejection: Rejection(code: code, message: message, rule: rule, threshold: threshold), measured: measured
            )
        }
        let name: ImageName
        do {
            name = try ImageName.parse(fileName)
        } catch {
            return reject(error.code.rawValue, error.message, rule: "naming contract")
        }
        let latest = clock().timeIntervalSince1970 + Double(rules.maxFutureSeconds)
        if Double(name.seconds) > latest {
            return reject(
                NameError.Code.futureTimestamp.rawValue,
                "the name's time \(name.seconds) is more than \(rules.maxFutureSeconds) s ahead of this server's "
                    + "clock; check the camera's clock", rule: "maxFutureSeconds",
                threshold: "\(rules.maxFutureSeconds)")
        }
        guard !data.isEmpty else { return reject("empty-file", "the file is empty (0 bytes)") }
        guard data.count <= rules.maxBytes else {
            return reject(
                "too-large-bytes", "the file has \(data.count) bytes, over the limit of \(rules.maxBytes)",
                rule: "maxBytes", threshold: "\(rules.maxBytes)")
        }
        guard let format = ImageFormat.sniff(data) else {
            return reject("unknown-format", "the bytes are neither JPEG nor PNG")
        }
        measured.format = format
        let named: ImageFormat = name.fileExtension == "png" ? .png : .jpeg
        guard format == named else {
            return reject(
                "format-mismatch", "the name says .\(name.fileExtension) but the bytes are \(format.rawValue)")
        }
        let header: ImageHeader
        do {
            header = try ImageDecoder.header(data)
        } catch {
            return reject("corrupt-image", error.message)
        }
        measured.width = header.width
        measured.height = header.height
        measured.components = header.components
        guard header.width >= rules.minWidth, header.height >= rules.minHeight else {
            return reject(
                "too-small", "\(header.width)×\(header.height) is smaller than \(rules.minWidth)×\(rules.minHeight)",
                rule: "minWidth×minHeight", threshold: "\(rules.minWidth)×\(rules.minHeight)")
        }
        guard header.pixels <= rules.maxPixels else {
            return reject(
                "too-many-pixels", "\(header.width)×\(header.height) is over the limit of \(rules.maxPixels) pixels",
                rule: "maxPixels", threshold: "\(rules.maxPixels)")
        }
        var image: RGBImage
        // The colour check needs few pixels (1/8 scale still decodes every byte of the stream), but a detector
        // in this process would decode larger: then decode at its scale and shrink that for the colour check to
        // the same size, where its thresholds were set.
        let colourSize = (width: 40, height: 30)
        let shared = key.flatMap { key in
            sharing.flatMap { cache in cache.expectedSize.map { (key: key, cache: cache, size: $0) } }
        }
        let scale = ImageDecoder.scaleNumerator(header, atLeast: shared?.size ?? colourSize)
        let generation = shared?.cache.generation
        do {
            image = try ImageDecoder.decode(data, atLeast: shared?.size ?? colourSize, maxPixels: rules.maxPixels)
                .image
        } catch {
            return reject("corrupt-image", error.message)
        }
        let decoded = image
        // A PNG, decoded whole, is averaged down to the grid a JPEG of the same frame is measured on (1/8 for
        // camera frames): the same picture gets the same verdict in either format, and the colour check reads
        // 1/64 of the pixels.
        image = image.boxReduced(by: Int(scale / ImageDecoder.powerOfTwoScale(header, atLeast: colourSize)))
        if header.components < 3 {
            measured.chromaSpread = 0
            measured.meanChroma = 0
            return reject(
                "greyscale", "the image is stored as greyscale (\(header.components) channel)",
                rule: "minChromaSpread", threshold: "\(rules.minChromaSpread)")
        }
        let colour = ColourStatistics.measure(image)
        measured.chromaSpread = (colour.chromaSpread * 100).rounded() / 100
        measured.meanChroma = (colour.meanChroma * 100).rounded() / 100
        guard colour.chromaSpread >= rules.minChromaSpread else {
            return reject(
                "greyscale",
                String(
                    format: "the image has almost no colour (chroma spread %.2f, under %.2f): a greyscale or night "
                        + "infrared frame", colour.chromaSpread, rules.minChromaSpread),
                rule: "minChromaSpread", threshold: "\(rules.minChromaSpread)")
        }
        if let shared {
            shared.cache.insert(decoded, header: header, scale: scale, for: shared.key, generation: generation)
        }
        return Verdict(name: name, rejection: nil, measured: measured)
    }
}
