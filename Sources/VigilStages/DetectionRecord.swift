import Foundation
import VigilVision

/// What the `detect` stage writes per image, at `/<deviceId>/<image name>.json`: the shape
/// DeepStack and CodeProject.AI users know (`label`, `confidence`, box in pixels), plus the device and time
/// from the name, the image it came from, and which model saw it. Schema: docs/schemas/detection.schema.json.
public struct DetectionRecord: Sendable, Hashable, Codable {
    public struct Image: Sendable, Hashable, Codable {
        public var name: String
        public var width: Int
        public var height: Int
        public var bytes: Int64
        /// The image's content hash (SHA-256): what the threats stage links to, storing no bytes.
        public var sha256: String
        /// Where it is: `repo@commit:/path`.
        public var address: String
    }

    public var success = true
    public var device: String
    /// Seconds since the epoch (UTC), from the name.
    public var time: Int64
    public var isoTime: String
    public var image: Image
    public var model: Detector.ModelIdentity
    public var detections: [Detection]
    /// Detections per label.
    public var counts: [String: Int]
    public var inferenceMs: Double
    public var decodeMs: Double

    public init(
        name: ImageName, image: Image, model: Detector.ModelIdentity, result: Detector.Result
    ) {
        device = name.device
        time = name.seconds
        isoTime = name.time.formatted(.iso8601)
        self.image = image
        self.model = model
        detections = result.detections
        counts = result.detections.reduce(into: [:]) { $0[$1.label, default: 0] += 1 }
        inferenceMs = (result.inferenceMilliseconds * 100).rounded() / 100
        decodeMs = (result.decodeMilliseconds * 100).rounded() / 100
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    public func encoded() throws -> Data { try Self.encoder.encode(self) }
}
