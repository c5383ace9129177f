import Foundation
import Tracing
import VigilPipeline
import VigilStore
import VigilVision

/// The `detect` stage: runs the object detector on each valid image and writes its `DetectionRecord` to
/// `/<deviceId>/<image name>.json`. One detector (one ONNX session) per worker, loaded once and kept across jobs;
/// decoding and inference run on the worker's own thread (`WorkerThread`). An image a `validate` stage in
/// this process has just decoded is not decoded again (`DecodedImageCache`). With the `modelInput` option the
/// model is read from that input (a folder of a models repo, `RepoModels`) instead of a file, and each record
/// names the commit it came from.
public final class DetectStage: Stage {
    /// Where the model comes from: a file, loaded once, or each datum's model input.
    private enum Model: Sendable {
        case file(Detector)
        case input(RepoModels)
    }

    private let model: Model
    private let thread: WorkerThread
    /// Where frames uploaded to this process are detected before this stage's job reaches them.
    private let prefetch: FramePrefetch?
    private let registration: FramePrefetch.Registration?

    /// `prefetch`: where this stage detects frames as their uploads arrive and takes the detections from
    /// (nil: every frame is detected in its datum).
    public init(detector: Detector, prefetch: FramePrefetch? = .shared) {
        model = .file(detector)
        thread = WorkerThread(name: "vigil-detect")
        self.prefetch = prefetch
        registration = prefetch?.register(detector: detector, thread: thread)
        // A validate stage in this process then decodes at this detector's scale and leaves the pixels.
        let size = detector.configuration.inputSize
        DecodedImageCache.shared.expect(width: size, height: size)
    }

    /// A stage whose model is the folder that the datums' input `modelInput` matches; `configuration` gives the
    /// rest (size, thresholds, threads). Frames are not detected as they arrive (the model is known only
    /// per datum).
    public init(modelInput: String, configuration: Detector.Configuration) {
        model = .input(RepoModels(input: modelInput, base: configuration))
        thread = WorkerThread(name: "vigil-detect")
        prefetch = nil
        registration = nil
        DecodedImageCache.shared.expect(width: configuration.inputSize, height: configuration.inputSize)
    }

    /// Inference on its thread cannot be interrupted: cancelling would not end a datum sooner.
    public var endsWhenCancelled: Bool { false }

    public var identity: String? {
        let detector: Detector? =
            switch model {
            case .file(let detector): detector
            case .input(let models): models.current
            }
        return detector.map { "model=\($0.model.name)@\($0.model.sha256.prefix(16))" }
    }

    static let optionNames: Set<String> = [
        "model", "labels", "inputSize", "scoreThreshold", "nmsThreshold", "intraOpThreads", "allowSpinning",
        "runtime", "modelInput",
    ]

    /// The input a spec's `modelInput` option names, if any; refused beside `model` or `labels`.
    public static func modelInput(_ options: StageConfiguration) throws -> String? {
        guard let input = options.options["modelInput"] else { return nil }
        guard options.options["model"] == nil, options.options["labels"] == nil else {
            throw PipelineError(
                .badStageOption,
                "the detect stage takes its model from a file (`model`, `labels`) or from an input (`modelInput`), "
                    + "not both", value: input)
        }
        return input
    }

    /// The detector a spec's options describe (defaults: YOLOv4-tiny from `make setup`).
    public static func configuration(_ options: StageConfiguration) throws -> Detector.Configuration {
        try options.allowOnly(optionNames)
        var configuration = Detector.Configuration.defaultModel()
        if let model = options.options["model"] { configuration.model = URL(fileURLWithPath: model) }
        if let labels = options.options["labels"] { configuration.labels = URL(fileURLWithPath: labels) }
        configuration.runtimeLibrary = options.options["runtime"]
        configuration.inputSize = try options.option("inputSize", default: 416) {
            Int($0).flatMap { $0 >= 32 ? $0 : nil }
        }
        let fraction: (String) -> Float? = { Float($0).flatMap { $0 > 0 && $0 < 1 ? $0 : nil } }
        configuration.scoreThreshold = try options.option("scoreThreshold", default: 0.25, fraction)
        configuration.nmsThreshold = try options.option("nmsThreshold", default: 0.45, fraction)
        configuration.intraOpThreads = try options.option("intraOpThreads", default: 1) {
            Int($0).flatMap { (1...64).contains($0) ? $0 : nil }
        }
        configuration.allowSpinning = try options.option("allowSpinning", default: false) { Bool($0) }
        return configuration
    }

    public func process(_ datum: DatumContext) async throws {
        let detector: Detector
        var identity: Detector.ModelIdentity
        var modelInput: String?
        switch model {
        case .file(let fixed):
            (detector, identity) = (fixed, fixed.model)
        case .input(let models):
            let (loaded, source) = try await models.detector(for: datum, on: thread)
            (detector, identity, modelInput) = (loaded, loaded.model, models.input)
            identity.source = source
        }
        for input in datum.datum.inputs where input.name != modelInput {
            for file in try await datum.files(of: input) {
                let name = try ImageName.parse(file.entry.name)
                let result = try await detect(file.entry, in: datum, with: detector)
                let image = DetectionRecord.Image(
                    name: file.entry.name, width: result.width, height: result.height, bytes: file.entry.size,
                    sha256: file.entry.hash.hex, address: "\(input.repo)@\(input.commit):\(file.path)")
                let record = DetectionRecord(name: name, image: image, model: identity, result: result)
                // The whole name, extension included: cam1-1700000000.jpg and .png are two images.
                try await datum.write("/\(name.device)/\(file.entry.name).json", data: try record.encoded())
                datum.log(
                    "\(file.entry.name): \(result.detections.count) objects in \(Int(result.inferenceMilliseconds)) ms")
            }
        }
    }

    /// What the detector finds in one file: detected when its upload arrived (`FramePrefetch`), or now.
    private func detect(
        _ entry: TreeEntry, in datum: DatumContext, with detector: Detector
    ) async throws -> Detector.Result {
        let key = entry.hash.hex
        if let detected = await prefetch?.detection(name: entry.name, hash: key, detector: detector) {
            Self.spans(of: detected.value, endingAt: detected.finished)
            return detected.value
        }
        let data = try await datum.read(entry)
        let result = try await thread.run { try detector.detect(data, cacheKey: key) }
        Self.spans(of: result, endingAt: Date())
        return result
    }

    /// The decode and inference the detector timed on its thread, as spans of the current datum's trace.
    private static func spans(of result: Detector.Result, endingAt end: Date) {
        guard TraceHeaders.isTracing else { return }
        let inferred = end.addingTimeInterval(-result.inferenceMilliseconds / 1000)
        let decoded = inferred.addingTimeInterval(-result.decodeMilliseconds / 1000)
        startSpan("decode", at: WallClockInstant(decoded)).end(at: WallClockInstant(inferred))
        startSpan("inference", at: WallClockInstant(inferred)).end(at: WallClockInstant(end))
    }
}
