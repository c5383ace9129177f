import Foundation
import VigilAccess
import VigilPipeline
import VigilStages
import VigilStore
import VigilVision

/// The customer and cameras of the latency benchmarks: `cameras` devices (`cam0`, `cam1`…) of one customer who
/// is alerted for people and vehicles, and the frames they send in turn. It also says, from the validator's and
/// the detector's own answers on a frame and the same rule code the threats stage runs, whether that frame
/// should raise an alert: frames of empty scenes raise none and greyscale frames are set aside as invalid, so a
/// benchmark counts only the others at the sink and checks that each came, once.
struct CameraWorkload: Sendable {
    let cameras: Int
    let rules: String
    let book: RuleBook

    static let dangerous = ["person": 0.25, "bus": 0.3, "car": 0.3, "motorbike": 0.3, "truck": 0.3]

    init(cameras: Int) throws {
        self.cameras = cameras
        let devices = (0..<cameras).map { "cam\($0)" }.joined(separator: ", ")
        let dangerous = Self.dangerous.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }
            .joined(separator: ", ")
        rules = """
            customers:
              - {id: acme, name: Acme, contacts: [{name: Ana, email: ana@acme.example}], devices: [\(devices)], dangerous: {\(dangerous)}}

            """
        book = try RuleBookParser.parse(files: [("customers.yaml", rules)])
    }

    /// The image name of upload `sequence` (counted from 0 over the whole run): the cameras take turns, each
    /// frame a second after the last one sent.
    func name(sequence: Int, fileExtension: String) -> String {
        "cam\(sequence % cameras)-\(1_700_000_000 + sequence).\(fileExtension)"
    }

    /// Creates the images and rules repos, the customer's rules, the three pipelines (validate → detect →
    /// threats) and a device token per camera (camera k's at k).
    func install(
        store: VersionedStore, engine: EngineEnvironment, access: any AccessStore, threads: Int, spinning: Bool,
        shareDecoded: Bool
    ) async throws -> [String] {
        for repo in ["images", "rules"] { try await store.createRepo(repo) }
        let writer = try await store.openCommit(repo: "rules")
        try await writer.put("/customers.yaml", data: Data(rules.utf8))
        try await writer.finish()
        let manager = PipelineManager(environment: engine)
        for yaml in [
            """
            {name: validate, input: {pfs: {repo: images, glob: '/*'}}, \
            transform: {stage: validate, options: {shareDecoded: '\(shareDecoded)'}}}
            """,
            """
            {name: detect, input: {pfs: {repo: validate, glob: '/valid/*'}}, \
            transform: {stage: detect, options: {intraOpThreads: '\(threads)', allowSpinning: '\(spinning)'}}}
            """,
            """
            {name: threats, input: {cross: [{pfs: {repo: detect, glob: '/*/*'}}, \
            {pfs: {repo: rules, glob: '/', reprocess: false}}]}, transform: {stage: threats}}
            """,
        ] {
            try await manager.create(try PipelineSpecParser.parse(yaml), source: yaml)
        }
        return try await Self.deviceTokens(cameras, access: access)
    }

    /// A device token for each of `count` cameras, `cam0`…: camera k's at k.
    static func deviceTokens(_ count: Int, access: any AccessStore) async throws -> [String] {
        var tokens: [String] = []
        for camera in 0..<count {
            tokens.append(
                try await access.createToken(name: "cam\(camera)", role: .device, device: "cam\(camera)", at: Date())
                    .token)
        }
        return tokens
    }

    func shouldAlert(_ frame: VariedFrames.Frame, detections: [Detection]) -> Bool {
        guard
            ImageValidator().judge(name: name(sequence: 0, fileExtension: frame.fileExtension), data: frame.data)
                .isValid
        else { return false }
        return book.judge(device: "cam0", time: Date(timeIntervalSince1970: 1_700_000_000), detections: detections)
            != nil
    }
}

/// The detector alone (decode + inference, as a naive script would run it) on every frame: its times are the
/// baseline the service is measured against, and its answers (with the validator's, untimed) say which frames
/// should raise alerts.
struct DetectorAlone: Encodable {
    var frames: Int
    var inferenceP50: Double
    var p50: Double
    var p90: Double
    var p99: Double
    var stealPercent: Double?
    /// Per frame, whether its detections should raise an alert.
    var shouldAlert: [Bool]
    /// Per frame, decode + inference, ms: the service's latency is taken over the frames that raised alerts, so
    /// its baseline is taken over the same frames too (`over(frames:)`).
    var milliseconds: [Double]

    private enum CodingKeys: String, CodingKey { case frames, inferenceP50, p50, p90, p99, stealPercent }

    /// The detector alone's p50 and p99 (decode + inference) over the frames at `indices`, repeats counted.
    func over(frames indices: [Int]) -> (p50: Double, p99: Double) {
        let times = indices.map { milliseconds[$0] }
        guard !times.isEmpty else { return (0, 0) }
        return (median(times), percentile(times, 99))
    }

    /// The benchmark's model with `threads` intra-op threads, spinning or not.
    static func detector(threads: Int, spinning: Bool) throws -> Detector {
        var configuration = Detector.Configuration.defaultModel()
        configuration.intraOpThreads = threads
        configuration.allowSpinning = spinning
        return try Detector(configuration)
    }

    static func measure(
        _ frames: [VariedFrames.Frame], threads: Int, spinning: Bool, workload: CameraWorkload,
        progress: (Int) -> Void
    ) throws -> DetectorAlone {
        let detector = try Self.detector(threads: threads, spinning: spinning)
        _ = try detector.detect(frames[0].data)
        let steal = StealMeter()
        var inference: [Double] = []
        var total: [Double] = []
        var shouldAlert: [Bool] = []
        for (index, frame) in frames.enumerated() {
            let result = try detector.detect(frame.data)
            inference.append(result.inferenceMilliseconds)
            total.append(result.inferenceMilliseconds + result.decodeMilliseconds)
            shouldAlert.append(workload.shouldAlert(frame, detections: result.detections))
            if (index + 1) % 50 == 0 || index + 1 == frames.count { progress(index + 1) }
        }
        return DetectorAlone(
            frames: frames.count, inferenceP50: median(inference), p50: median(total), p90: percentile(total, 90),
            p99: percentile(total, 99), stealPercent: steal.percent, shouldAlert: shouldAlert, milliseconds: total)
    }
}
