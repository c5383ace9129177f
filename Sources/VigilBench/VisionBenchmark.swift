import ArgumentParser
import Foundation
import Logging
import VigilPipeline
import VigilStages
import VigilStore
import VigilVision

/// The vision stages' speed, in one process:
/// - validate: 640×480 JPEGs through the `validate` stage (engine, store, 2 workers), and the validator alone;
/// - detect: varied camera frames (`VariedFrames`: crops of real photos at 640×480, 1280×720 and 1920×1080,
///   JPEG and PNG, every upload new bytes, so neither dedup nor the decoded-image cache helps) through the
///   `detect` stage, as 1 worker × 2 threads, 2 workers × 1 thread and 1 × 1; and the raw runtime on the same
///   frames, round by round, decoded and resized beforehand (no decoding, no store, no engine) in the same
///   configurations. The stage's best over the raw runtime's best is the pipeline's overhead.
struct VisionBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vision", abstract: "Time validate and detect against the validator and the raw runtime.")

    @Option(help: "Data folder to create (must not exist).") var home: String
    @Option(help: "640×480 JPEGs for validate.") var validateImages = 400
    @Option(help: "Frames per detect run (each stage run uploads frames no run has uploaded).") var detectImages = 60
    @Option(help: "The photos the detect frames are made from (`make bench-photos` puts them there).")
    var photos = ".deps/photos"
    @Option(help: "Rounds: each figure is taken once per round (the median is reported).") var runs = 5

    struct Figure: Encodable {
        var name: String
        var perSecond: [Double]
        var median: Double
    }

    func run() async throws {
        try await withBenchmarkHome(home, stages: .vigil) { store, environment in
            let manager = PipelineManager(environment: environment)
            var figures: [Figure] = []
            func record(_ name: String, _ rates: [Double]) {
                figures.append(Figure(name: name, perSecond: rates, median: median(rates)))
                report(
                    String(
                        format: "%@: %.1f images/s (runs: %@)", name, median(rates),
                        rates.map { String(format: "%.1f", $0) }.joined(separator: ", ")))
            }

            // Validate.
            let frames = (0..<validateImages).map { Self.frame(seed: $0) }
            try await store.createRepo("frames")
            let writer = try await store.openCommit(repo: "frames")
            for (index, frame) in frames.enumerated() {
                try await writer.put("/cam\(index % 8)-\(1_763_700_000 + index).jpg", data: frame)
            }
            try await writer.finish()
            // As `vigil serve` runs it the second time, with a detector in the process: decoded at the detector's
            // scale (full size for 640×480) and left for it (here nobody takes them; the cache drops the oldest).
            for (prefix, label) in [("validate", ""), ("validate-sharing", ", decoding for a 416×416 detector")] {
                if !label.isEmpty { DecodedImageCache.shared.expect(width: 416, height: 416) }
                var rates: [Double] = []
                for run in 0..<runs {
                    let yaml =
                        "{name: \(prefix)\(run), input: {pfs: {repo: frames, glob: '/*'}}, transform: {stage: validate}, parallelism: 2}"
                    rates.append(
                        try await Self.time(yaml, count: validateImages, manager: manager, environment: environment))
                }
                record("validate stage, 640×480 JPEG, 2 workers" + label, rates)
            }
            let validator = ImageValidator()
            var aloneRates: [Double] = []
            for _ in 0..<runs {
                let start = ContinuousClock.now
                for (index, frame) in frames.enumerated() {
                    guard validator.judge(name: "cam1-\(1_763_700_000 + index).jpg", data: frame).isValid else {
                        throw ValidationError("a benchmark frame was judged invalid")
                    }
                }
                aloneRates.append(Double(frames.count) / (milliseconds(ContinuousClock.now - start) / 1000))
            }
            record("validator alone, 1 thread", aloneRates)

            // Detect.
            let configurations = [
                (workers: 1, threads: 2, spinning: false), (workers: 1, threads: 2, spinning: true),
                (workers: 2, threads: 1, spinning: false), (workers: 1, threads: 1, spinning: false),
            ]
            // Every round gets frames of its own (and the first, untimed jobs theirs); within a round each
            // configuration takes the same frames into a repo of its own. Only the engine's job is timed, so the
            // store finding the bytes already kept changes nothing timed.
            let stageRuns = runs + 1
            let detectImages = self.detectImages
            let sources = try VariedFrames.photos(in: photos)
            let cameraFrames = try VariedFrames.make(from: sources, count: stageRuns * detectImages) { made in
                FileHandle.standardError.write(Data("\rmaking \(stageRuns * detectImages) varied frames: \(made)".utf8))
            }
            // The frames of a round, timed through the stage and through the raw runtime alike (the untimed first
            // jobs take the start of round −1's).
            func detectFrames(ofRound round: Int) -> [VariedFrames.Frame] {
                Array(cameraFrames[(round + 1) * detectImages..<(round + 2) * detectImages])
            }
            report(
                "\rdetect: \(cameraFrames.count) varied frames from \(sources.count) photos, "
                    + "\(cameraFrames.filter { $0.fileExtension == "png" }.count) PNG, "
                    + "\(cameraFrames.map(\.data.count).reduce(0, +) / cameraFrames.count / 1024) KB on average")
            // Judging a frame: for the colour check alone, and decoding for a 416×416 detector (`vigil serve`);
            // decoding to the model's input, as the stage does. By frame size and format.
            let sharing = DecodedImageCache(byteLimit: 64 << 20)
            sharing.expect(width: 416, height: 416)
            let kinds = Dictionary(grouping: cameraFrames.prefix(400)) {
                "\($0.width)×\($0.height) \($0.fileExtension)"
            }
            for (kind, group) in kinds.sorted(by: { $0.key < $1.key }) {
                var alone: [Double] = []
                var shared: [Double] = []
                var decoded: [Double] = []
                for (index, frame) in group.prefix(20).enumerated() {
                    var start = ContinuousClock.now
                    _ = validator.judge(name: "cam1-1763700000.\(frame.fileExtension)", data: frame.data)
                    alone.append(milliseconds(ContinuousClock.now - start))
                    start = ContinuousClock.now
                    _ = ImageValidator(sharing: sharing).judge(
                        name: "cam1-1763700000.\(frame.fileExtension)", data: frame.data, key: "\(kind) \(index)")
                    shared.append(milliseconds(ContinuousClock.now - start))
                    start = ContinuousClock.now
                    _ = try ImageDecoder.decodePlanar(frame.data, width: 416, height: 416)
                    decoded.append(milliseconds(ContinuousClock.now - start))
                }
                report(
                    String(
                        format:
                            "%@ (%d frames): validator %.2f ms; decoding for a 416×416 detector %.2f ms; "
                            + "decode + resize to 416×416 %.2f ms", kind, min(group.count, 20), median(alone),
                        median(shared), median(decoded)))
            }
            // With 2 intra-op threads, both ways ONNX Runtime's pool can wait: spinning (its default) and sleeping.
            func label(_ configuration: (workers: Int, threads: Int, spinning: Bool), _ unit: String) -> String {
                "\(configuration.workers) \(unit)(s) × \(configuration.threads) thread(s)"
                    + (configuration.spinning ? ", spinning" : "")
            }
            // Every figure is taken once per round, rounds one after another, so a slow spell of a shared machine
            // falls on all of them alike; the ratio is also taken round by round.
            struct Contender {
                enum Kind { case stage, raw, rawWithDecoding }
                var name: String
                var kind: Kind
                var run: (Int) async throws -> Double
                var rates: [Double] = []
            }
            var contenders: [Contender] = []
            for (index, configuration) in configurations.enumerated() {
                // One engine per configuration, kept across its jobs as the service keeps it: an untimed first job
                // loads the workers' models; the timed jobs then process new photos on warm workers.
                let repo = "uploads\(index)"
                try await store.createRepo(repo)
                let engine = PipelineEngine(environment: environment)
                let yaml = """
                    {name: detect\(index), input: {pfs: {repo: \(repo), glob: '/valid/*'}}, \
                    transform: {stage: detect, options: {intraOpThreads: \(configuration.threads), \
                    allowSpinning: \(configuration.spinning)}}, \
                    parallelism: \(configuration.workers)}
                    """
                try await manager.create(try PipelineSpecParser.parse(yaml), source: yaml)
                let job: (Int) async throws -> Double = { run in
                    let batch = run < 0 ? 2 : detectImages
                    let uploads = try await store.openCommit(repo: repo)
                    for (image, frame) in detectFrames(ofRound: run).prefix(batch).enumerated() {
                        let seconds = 1_763_700_000 + (run + 1) * 10_000 + image
                        try await uploads.put(
                            "/valid/cam\(image % 4)-\(seconds).\(frame.fileExtension)", data: frame.data)
                    }
                    try await uploads.finish()
                    let start = ContinuousClock.now
                    let jobs = try await engine.runUntilIdle(only: ["detect\(index)"])
                    let elapsed = milliseconds(ContinuousClock.now - start) / 1000
                    guard jobs.count == 1, jobs[0].counts.processed == batch, jobs[0].counts.failed == 0 else {
                        throw ValidationError("detect\(index): expected one job of \(batch) datums, got \(jobs)")
                    }
                    return Double(batch) / elapsed
                }
                _ = try await job(-1)
                contenders.append(
                    Contender(name: "detect stage, " + label(configuration, "worker"), kind: .stage, run: job))
            }
            for configuration in configurations {
                let detectors = try Self.detectors(
                    configuration.workers, threads: configuration.threads, spinning: configuration.spinning)
                contenders.append(
                    Contender(name: "raw runtime, " + label(configuration, "session"), kind: .raw) { round in
                        // Decoded and resized before the clock starts.
                        let prepared = try detectFrames(ofRound: round).map { try detectors[0].prepare($0.data) }
                        return try await Self.rates(detectors, images: detectImages, runs: 1) { detector, index in
                            var input = prepared[index].input
                            _ = try detector.infer(&input, width: prepared[index].width, height: prepared[index].height)
                        }[0]
                    })
            }
            // The same loop decoding each photo first: what the stage would cost with no store and no engine, so
            // the gap splits into decoding on busy cores and the engine's own share.
            for configuration in configurations where configuration.workers == 2 {
                let detectors = try Self.detectors(configuration.workers, threads: configuration.threads)
                contenders.append(
                    Contender(
                        name:
                            "raw runtime with decoding, \(configuration.workers) sessions × \(configuration.threads) thread",
                        kind: .rawWithDecoding
                    ) { round in
                        let timed = detectFrames(ofRound: round)
                        return try await Self.rates(detectors, images: detectImages, runs: 1) { detector, index in
                            _ = try detector.detect(timed[index].data)
                        }[0]
                    })
            }
            var ratios: [Double] = []
            var steals: [String] = []
            for round in 0..<runs {
                let steal = StealMeter()
                for index in contenders.indices {
                    contenders[index].rates.append(try await contenders[index].run(round))
                }
                func best(_ kind: Contender.Kind) -> Double {
                    contenders.filter { $0.kind == kind }.map { $0.rates[round] }.max() ?? 0
                }
                ratios.append(best(.stage) / best(.raw))
                steals.append(steal.percent.map { String(format: "%.1f", $0) } ?? "?")
            }
            for contender in contenders { record(contender.name, contender.rates) }
            func best(_ kind: Contender.Kind) -> Double {
                contenders.filter { $0.kind == kind }.map { median($0.rates) }.max() ?? 0
            }
            let (stageBest, rawBest, decodingBest) = (best(.stage), best(.raw), best(.rawWithDecoding))
            report(
                String(
                    format:
                        "detect stage best / raw runtime best = %.2f (round by round: %@; raw with decoding / raw = "
                        + "%.2f; stage / raw with decoding = %.2f)", stageBest / rawBest,
                    ratios.map { String(format: "%.2f", $0) }.joined(separator: ", "), decodingBest / rawBest,
                    stageBest / decodingBest))
            report(
                "steal (share of the wanted CPU time that went to other guests) by round, %: "
                    + steals.joined(separator: ", "))
            figures.append(
                Figure(
                    name: "detect stage best / raw runtime best, by round", perSecond: ratios, median: median(ratios)))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(figures), as: UTF8.self))
        }
    }

    static func detectors(_ count: Int, threads: Int, spinning: Bool = false) throws -> [Detector] {
        try (0..<count).map { _ in
            var settings = Detector.Configuration.defaultModel()
            settings.intraOpThreads = threads
            settings.allowSpinning = spinning
            return try Detector(settings)
        }
    }

    /// Images per second of `runs` runs, the images shared out over the detectors running in parallel.
    static func rates(
        _ detectors: [Detector], images: Int, runs: Int, _ body: @escaping @Sendable (Detector, Int) throws -> Void
    ) async throws -> [Double] {
        var rates: [Double] = []
        for _ in 0..<runs {
            let start = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (worker, detector) in detectors.enumerated() {
                    group.addTask {
                        for index in stride(from: worker, to: images, by: detectors.count) { try body(detector, index) }
                    }
                }
                try await group.waitForAll()
            }
            rates.append(Double(images) / (milliseconds(ContinuousClock.now - start) / 1000))
        }
        return rates
    }

    /// Creates the pipeline and times its one job; images per second.
    static func time(
        _ yaml: String, count: Int, manager: PipelineManager, environment: EngineEnvironment
    ) async throws -> Double {
        let spec = try PipelineSpecParser.parse(yaml)
        try await manager.create(spec, source: yaml)
        let start = ContinuousClock.now
        let jobs = try await PipelineEngine(environment: environment).runUntilIdle(only: [spec.name])
        let seconds = milliseconds(ContinuousClock.now - start) / 1000
        guard jobs.count == 1, jobs[0].counts.processed == count, jobs[0].counts.failed == 0 else {
            throw ValidationError("\(spec.name): expected one job of \(count) datums, got \(jobs)")
        }
        return Double(count) / seconds
    }

    /// A distinct colourful 640×480 JPEG.
    static func frame(seed: Int) -> Data {
        let width = 640, height = 480
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let index = (y * width + x) * 3
                pixels[index] = UInt8((x + seed * 7) % 256)
                pixels[index + 1] = UInt8((y * 2 + seed) % 256)
                pixels[index + 2] = UInt8((x * y / 64 + seed * 3) % 256)
            }
        }
        return try! ImageEncoder.jpeg(pixels, width: width, height: height, quality: 85)
    }
}
