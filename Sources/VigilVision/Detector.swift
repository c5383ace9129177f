import Crypto
import Foundation
import Synchronization

/// An object detector: an ONNX model (YOLOv4-tiny on COCO by default, or a customer's own), its labels, and
/// the decoding of its outputs. One per worker: the session loads once (~100 ms) and serves every image.
public final class Detector: Sendable {
    public struct Configuration: Sendable, Hashable {
        public var model: URL
        public var labels: URL
        public var inputSize = 416
        public var scoreThreshold: Float = 0.25
        public var nmsThreshold: Float = 0.45
        public var intraOpThreads = 1
        /// Whether the intra-op pool's threads spin while they wait for work (ONNX Runtime's default). Off:
        /// they sleep at once, so the cores they would spin on go to decoding, validating and serving instead;
        /// measured in `vigil-bench vision` and `serve`. Only matters with 2 or more intra-op threads.
        public var allowSpinning = false
        /// The ONNX Runtime library (nil: the default places, see `OnnxRuntime.defaultLibraryPaths`).
        public var runtimeLibrary: String?

        public init(model: URL, labels: URL) {
            self.model = model
            self.labels = labels
        }

        /// The project's default model, where `make setup` puts it: `.deps/model/yolov4-tiny.onnx` and
        /// `coco.names` (or `$VIGIL_MODEL_DIR`).
        public static func defaultModel() -> Configuration {
            let folder = defaultModelFolder()
            return Configuration(
                model: folder.appendingPathComponent("yolov4-tiny.onnx"),
                labels: folder.appendingPathComponent("coco.names"))
        }

        public static func defaultModelFolder() -> URL {
            if let folder = ProcessInfo.processInfo.environment["VIGIL_MODEL_DIR"] {
                return URL(fileURLWithPath: folder)
            }
            let candidates = ProjectFiles.depsFolders().map { $0.appendingPathComponent("model") }
            return candidates.first {
                FileManager.default.fileExists(atPath: $0.appendingPathComponent("coco.names").path)
            }
                ?? candidates[0]
        }
    }

    /// Which model made a record: for provenance and for records readers.
    public struct ModelIdentity: Sendable, Hashable, Codable {
        public var name: String
        public var sha256: String
        public var labels: Int
        /// Where the model was read from when a pipeline took it from a repo: the folder's address at the
        /// commit read (`models@<commit>:/yolov4-tiny`); nil for a model file on disk.
        public var source: String?
    }

    /// What one image gave.
    public struct Result: Sendable {
        public var detections: [Detection]
        public var width: Int
        public var height: Int
        public var decodeMilliseconds: Double
        public var inferenceMilliseconds: Double
    }

    public let configuration: Configuration
    public let model: ModelIdentity
    public let labels: [String]
    public let session: OnnxSession
    let decoder: YoloDecoder

    public init(_ configuration: Configuration) throws(DetectorError) {
        self.configuration = configuration
        let labelsText: String
        do {
            labelsText = try String(contentsOf: configuration.labels, encoding: .utf8)
        } catch {
            throw DetectorError(
                .badLabels,
                "cannot read the label file \(configuration.labels.path); run `make setup` or give --labels",
                value: configuration.labels.path)
        }
        labels = labelsText.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        guard !labels.isEmpty else {
            throw DetectorError(.badLabels, "the label file has no labels", value: configuration.labels.path)
        }
        model = ModelIdentity(
            name: configuration.model.deletingPathExtension().lastPathComponent,
            sha256: try Self.sha256(of: configuration.model), labels: labels.count)
        let runtime = try OnnxRuntime.load(path: configuration.runtimeLibrary)
        session = try OnnxSession(
            model: configuration.model, intraOpThreads: configuration.intraOpThreads,
            configEntries: [("session.intra_op.allow_spinning", configuration.allowSpinning ? "1" : "0")],
            runtime: runtime)
        var decoder = YoloDecoder.yolov4Tiny
        decoder.inputSize = configuration.inputSize
        decoder.scoreThreshold = configuration.scoreThreshold
        decoder.nmsThreshold = configuration.nmsThreshold
        self.decoder = decoder
        if session.inputShape.count == 4, session.inputShape[2] > 0, session.inputShape[2] != configuration.inputSize {
            throw DetectorError(
                .badModel,
                "the model takes \(session.inputShape[2])×\(session.inputShape[3]) input, not "
                    + "\(configuration.inputSize); set inputSize", value: configuration.model.path)
        }
    }

    /// The model's input for an image: decoded (JPEG at the smallest DCT scale still as large as the input)
    /// and resized to the input size, planar RGB in 0–1. With a `cacheKey` (the image's content hash), pixels a
    /// validator left in `cache` at exactly the scale this detector decodes at are used instead of decoding.
    public func prepare(
        _ data: Data, cacheKey: String? = nil, cache: DecodedImageCache = .shared
    ) throws(DetectorError) -> (input: [Float], width: Int, height: Int) {
        var input = [Float](repeating: 0, count: inputCount)
        let (width, height) = try prepare(data, cacheKey: cacheKey, cache: cache, into: &input)
        return (input, width, height)
    }

    /// `prepare`, written into `input` (`3 × inputSize²` values); returns the image's own size.
    func prepare(
        _ data: Data, cacheKey: String?, cache: DecodedImageCache, into input: inout [Float]
    ) throws(DetectorError) -> (width: Int, height: Int) {
        let size = configuration.inputSize
        do {
            if let cacheKey {
                let header = try ImageDecoder.header(data)
                let scale = ImageDecoder.scaleNumerator(header, atLeast: (size, size))
                if let kept = cache.take(cacheKey, scale: scale) {
                    ImageResizer.planarRGB(kept.image, width: size, height: size, into: &input)
                    return (kept.header.width, kept.header.height)
                }
            }
            let (image, header) = try ImageDecoder.decode(data, atLeast: (size, size))
            ImageResizer.planarRGB(image, width: size, height: size, into: &input)
            return (header.width, header.height)
        } catch {
            throw DetectorError(.badImage, "cannot decode the image: \(error.message)")
        }
    }

    /// Runs the model on a prepared input; boxes in the pixels of the original `width`×`height`.
    public func infer(_ input: inout [Float], width: Int, height: Int) throws(DetectorError) -> [Detection] {
        var scratch = takeScratch()
        defer { giveBack(scratch) }
        return try infer(&input, width: width, height: height, outputs: &scratch.outputs)
    }

    private func infer(
        _ input: inout [Float], width: Int, height: Int, outputs: inout [OnnxSession.Tensor]
    ) throws(DetectorError) -> [Detection] {
        let size = configuration.inputSize
        try session.run(&input, shape: [1, 3, size, size], into: &outputs)
        return try decoder.decode(outputs, labels: labels, width: width, height: height)
    }

    /// Decodes (or takes from `cache`, see `prepare`) and detects.
    public func detect(
        _ data: Data, cacheKey: String? = nil, cache: DecodedImageCache = .shared
    ) throws(DetectorError) -> Result {
        let start = ContinuousClock.now
        var scratch = takeScratch()
        defer { giveBack(scratch) }
        let (width, height) = try prepare(data, cacheKey: cacheKey, cache: cache, into: &scratch.input)
        let decoded = ContinuousClock.now
        let detections = try infer(&scratch.input, width: width, height: height, outputs: &scratch.outputs)
        let end = ContinuousClock.now
        return Result(
            detections: detections, width: width, height: height,
            decodeMilliseconds: Self.milliseconds(decoded - start),
            inferenceMilliseconds: Self.milliseconds(end - decoded))
    }

    // MARK: Memory kept between frames

    /// What a frame's inference writes besides the model's own memory: the input tensor (2 MB at 416×416) and
    /// the copies of the outputs (about 0.9 MB for YOLOv4-tiny). Made new for every frame, each is a mapping of
    /// its own (`FrameMemory`), faulted in page by page as it is written and unmapped after: some 700 page faults
    /// and two `munmap`s per frame on the detector's thread, on every frame's way to its alert. Kept instead, one
    /// set per thread detecting at once, for as long as the detector lives.
    private struct Scratch: Sendable {
        var input: [Float]
        var outputs: [OnnxSession.Tensor] = []
    }

    private let spare = Mutex<[Scratch]>([])
    /// Sets kept at most: more threads than this detecting at once with one detector make (and drop) their own.
    private static let spareLimit = 4

    private var inputCount: Int { 3 * configuration.inputSize * configuration.inputSize }

    private func takeScratch() -> Scratch {
        spare.withLock { $0.popLast() } ?? Scratch(input: [Float](repeating: 0, count: inputCount))
    }

    private func giveBack(_ scratch: Scratch) {
        spare.withLock { spare in
            if spare.count < Self.spareLimit { spare.append(scratch) }
        }
    }

    /// Model hashes by path, size and modification time: every worker of a pipeline loads the same model, and
    /// hashing 24 MB once is enough.
    private static let hashes = Mutex<[String: String]>([:])

    static func sha256(of model: URL) throws(DetectorError) -> String {
        let attributes = try? FileManager.default.attributesOfItem(atPath: model.path)
        guard let attributes else {
            throw DetectorError(
                .modelMissing,
                "no model at \(model.path); run `make setup` to fetch and convert YOLOv4-tiny, or give --model",
                value: model.path)
        }
        let key = "\(model.path)|\(attributes[.size] ?? 0)|\(attributes[.modificationDate] ?? 0)"
        if let known = hashes.withLock({ $0[key] }) { return known }
        guard let bytes = FileManager.default.contents(atPath: model.path) else {
            throw DetectorError(.modelMissing, "cannot read the model at \(model.path)", value: model.path)
        }
        let hash = SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
        hashes.withLock { $0[key] = hash }
        return hash
    }

    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }
}
