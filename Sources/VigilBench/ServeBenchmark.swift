import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import Prometheus
import VigilAccess
import VigilAlertSink
import VigilAlerts
import VigilBackends
import VigilPipeline
import VigilServer
import VigilStages
import VigilStore
import VigilVision

/// Upload-to-alert latency of the whole system as `vigil serve` runs it: cameras PUT varied frames made from
/// real photos over HTTP at a steady rate; validate, detect (the real detector), threats and the notifier run in
/// the same process; the latency is from the request being sent to the alert's arrival at a local sink. Printed
/// beside the detector alone (decode + inference) on the same frames. A frame of an empty scene raises no alert
/// and is not timed, but it is uploaded and judged like the others.
struct ServeBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Time upload → alert through the HTTP API, the pipelines and the notifier.")

    @Option(help: "Data folder to create (must not exist).") var home: String
    @Option(parsing: .upToNextOption, help: "Upload rates, images per second.") var rates: [Double] = [1, 5, 10]
    @Option(help: "Seconds at each rate.") var seconds = 60.0
    @Option(help: "Cameras taking turns to upload.") var cameras = 5
    @Option(help: "Intra-op threads of the detector.") var threads = 2
    @Flag(help: "Let the detector's intra-op threads spin while they wait (ONNX Runtime's default).")
    var spinning = false
    @Flag(inversion: .prefixedNo, help: "Let validate leave its decoded pixels for detect (DecodedImageCache).")
    var shareDecoded = true
    @Flag(inversion: .prefixedNo, help: "Judge and detect each frame as its upload arrives (FramePrefetch).")
    var prefetch = true
    @Flag(
        inversion: .prefixedNo,
        help: "Run threats' job inside detect's and publish both commits together (EngineEnvironment.handsOff).")
    var handOff = true
    @Option(help: "The photos the frames are made from (`make bench-photos` puts them there).")
    var photos = ".deps/photos"
    @Option(
        help:
            "Send this one photo every time (dedup and the decode cache then flatter the figures) instead of varied frames."
    )
    var photo: String?
    @Option(help: "Keep metadata, jobs, alerts and tokens in this PostgreSQL database (password from PGPASSWORD).")
    var database: String?
    @Flag(
        inversion: .prefixedNo,
        help:
            "Take turns with the detector alone: after each block of uploads, it runs the block's frames, each at the time it was sent."
    )
    var pacedBaseline = true
    @Option(help: "Seconds of uploads per block, each followed by the detector alone on its frames (--paced-baseline).")
    var pacedBlock = 10.0
    @Flag(
        inversion: .prefixedNo,
        help:
            "Trace every frame (an in-memory tracer, the spans --otel-endpoint exports) and print each step's p50/p99."
    )
    var steps = true
    @Flag(
        help:
            "Keep every core busy with a loop at the lowest priority for the whole run (a diagnostic: leaves out what idle cores cost inference on this machine; not how Vigil runs)."
    )
    var keepCoresAwake = false
    @Flag(
        help:
            "Sample every thread's state every 5 ms while uploads run and print which were found waiting in the kernel (uninterruptible sleep: mostly the disk) and where (a diagnostic: the sampling thread keeps a core from idling)."
    )
    var watchThreads = false

    struct RateResult: Encodable {
        var rate: Double
        var uploads: Int
        /// Uploads whose frame should raise an alert (the detector alone says so), and those that did.
        var expectedAlerts: Int
        var alerts: Int
        /// Expected alerts that never came, and alerts for frames the detector alone did not alert on (a
        /// confidence at a threshold's edge can tip either way between runs).
        var missing: Int
        var unexpected: Int
        var latencyMilliseconds: [Double]
        var p50: Double
        var p90: Double
        var p99: Double
        var max: Double
        /// The detector alone's p50 and p99 over the frames timed here (those that raised alerts): the baseline
        /// for the same frames, where `Result.detector` is over every frame made.
        var detectorAloneP50: Double
        var detectorAloneP99: Double
        /// The same, with each frame begun at the time it was sent (`--paced-baseline`): the cores idle between
        /// frames as they do in the service. Every frame of a block of uploads is run so, right after the block
        /// (taking turns with the service); the figures are over the frames timed here.
        var pacedDetectorAloneP50: Double?
        var pacedDetectorAloneP99: Double?
        /// Its inference alone (p50), to set beside the service's `inference` step.
        var pacedDetectorAloneInferenceP50: Double?
        /// The process's CPU time (user + system) over the window, per upload: the whole system's work for one
        /// image, the uploading client and the sink included. Steadier than latency on a shared machine.
        var cpuMillisecondsPerImage: Double
        /// The share of the CPU time the machine wanted over the window that went to other guests, percent
        /// (`StealMeter`); nil where it cannot be read.
        var stealPercent: Double?
        /// Each step's p50/p99 from the frames' traces (with `--steps`).
        var steps: [StepBreakdown.Step]?
        var slowest: [StepBreakdown.SlowFrame]?
        /// Upload → alert by kind of frame.
        var kinds: [KindBreakdown]?
        /// What the threads waited for in the kernel while uploads ran (`--watch-threads`).
        var threadStates: ThreadStateSampler.Report?
    }

    struct Result: Encodable {
        var frames: String
        /// Whether busy loops kept the cores awake (`--keep-cores-awake`): then the figures leave out idle cores.
        var coresKeptAwake: Bool
        var detector: DetectorAlone
        var rates: [RateResult]
    }

    func run() async throws {
        let folder = URL(fileURLWithPath: home)
        guard !FileManager.default.fileExists(atPath: folder.path) else {
            throw ValidationError("--home \(home) exists; give a new folder")
        }
        guard cameras >= 1 else { throw ValidationError("--cameras must be at least 1") }
        guard pacedBlock > 0 else { throw ValidationError("--paced-block must be more than 0 seconds") }
        let workload = try CameraWorkload(cameras: cameras)
        let breakdown = steps ? StepBreakdown.start() : nil
        // One frame per upload at every rate, and one for the warm-up.
        let count = 1 + rates.reduce(0) { $0 + Int($1 * seconds) }
        let frames: [VariedFrames.Frame]
        let described: String
        if let photo {
            let data = try Data(contentsOf: URL(fileURLWithPath: photo))
            let header = try ImageDecoder.header(data)
            frames = [
                .init(
                    data: data, fileExtension: header.format == .png ? "png" : "jpg", width: header.width,
                    height: header.height, source: photo)
            ]
            described = "\(photo) every time"
        } else {
            let sources = try VariedFrames.photos(in: photos)
            frames = try VariedFrames.make(from: sources, count: count) { made in
                FileHandle.standardError.write(Data("\rmaking \(count) varied frames: \(made)".utf8))
            }
            described =
                "\(count) varied frames from \(sources.count) photos: "
                + "\(frames.filter { $0.fileExtension == "png" }.count) PNG, sizes "
                + Set(frames.map { "\($0.width)×\($0.height)" }).sorted().joined(separator: ", ")
                + String(
                    format: ", %.0f KB on average",
                    Double(frames.reduce(0) { $0 + $1.data.count }) / Double(count) / 1000)
            report("\r" + described)
        }
        let awake = keepCoresAwake ? try await AwakeCores.start() : nil
        if let awake {
            report(
                "keeping \(awake.count) cores awake with busy loops at the lowest priority: the figures below leave "
                    + "out what idle cores cost this machine")
        }
        do {
            try await measure(
                frames: frames, described: described, workload: workload, breakdown: breakdown, folder: folder)
        } catch {
            await awake?.stop()
            throw error
        }
        await awake?.stop()
    }

    /// The detector alone on `frames`, then the service at each rate with its data in `folder`; prints the result.
    private func measure(
        frames: [VariedFrames.Frame], described: String, workload: CameraWorkload, breakdown: StepBreakdown?,
        folder: URL
    ) async throws {
        let logger = Logger(label: "vigil-bench") { _ in SwiftLogNoOpLogHandler() }
        let detector = try DetectorAlone.measure(frames, threads: threads, spinning: spinning, workload: workload) {
            FileHandle.standardError.write(Data("\rthe detector alone: \($0) of \(frames.count) frames".utf8))
        }
        report(
            String(
                format: "\rthe detector alone (%d threads%@, every frame): inference p50 %.1f ms; with decoding "
                    + "p50 %.1f ms, p90 %.1f ms, p99 %.1f ms%@; %d of %d frames should raise an alert", threads,
                spinning ? ", spinning" : "", detector.inferenceP50, detector.p50, detector.p90, detector.p99,
                stealNote(detector.stealPercent), detector.shouldAlert.filter { $0 }.count, frames.count))
        // The warm-up sends a frame that raises an alert, so its arrival says every stage's worker is loaded.
        guard let warmUp = frames.indices.first(where: { detector.shouldAlert[$0] }) else {
            throw ValidationError(
                "no frame raises an alert for the rules \(CameraWorkload.dangerous); use other photos")
        }
        let order = [warmUp] + frames.indices.filter { $0 != warmUp }

        let configuration = StoreConfiguration(database: database)
        let results = try await Backends.with(home: folder, configuration: configuration, create: true, logger: logger)
        {
            backends in
            let store = backends.store
            var engineEnvironment = try backends.engineEnvironment(stages: .vigil)
            engineEnvironment.handsOff = handOff
            let engine = engineEnvironment
            let access = try backends.access()
            let tokens = try await workload.install(
                store: store, engine: engine, access: access, threads: threads, spinning: spinning,
                shareDecoded: shareDecoded)
            var environment = try ServerEnvironment.benchmark(backends, engine: engine, access: access, logger: logger)
            if !prefetch { environment.prefetch = nil }
            let server = environment
            let signature = try AlertSignature(secret: "vigil-benchmark-secret-0123456789")
            let sink = try AlertSink(signature: signature)
            return try await sink.whileRunning(logger: logger) { alertURL in
                let transport = try HTTPAlertTransport(url: alertURL, signature: signature)
                let notifier = try Notifier(store: store, database: server.alerts, transport: transport, logger: logger)
                let pipelines = PipelineEngine(environment: engine, changes: backends.changeFeed())
                let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
                let app = VigilAPI.application(server) { portSink.yield($0) }
                let client = HTTPClient(eventLoopGroupProvider: .singleton)
                do {
                    let results = try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask { try await pipelines.run() }
                        group.addTask { try await notifier.run() }
                        group.addTask { try await app.run() }
                        group.addTask { try await HeapTrim(logger: logger).run() }
                        for service in store.blobFilesMadeAhead {
                            group.addTask { try await service.run() }
                        }
                        group.addTask { try await WriterLeaseKeeper(store: store, logger: logger).run() }
                        var iterator = ports.makeAsyncIterator()
                        guard let port = await iterator.next() else { throw CancellationError() }
                        let upload = Uploader(
                            client: client, base: "http://127.0.0.1:\(port)", tokens: tokens, frames: frames,
                            order: order, workload: workload)
                        _ = try await upload.send(sequence: 0)
                        for _ in 0..<3_000 where sink.stats.received < 1 {
                            try await Task.sleep(for: .milliseconds(10))
                        }
                        _ = breakdown?.tracer.popFinishedSpans()
                        var results: [RateResult] = []
                        var next = 1
                        for rate in rates {
                            results.append(
                                try await measure(
                                    rate: rate, upload: upload, sink: sink, detector: detector,
                                    breakdown: breakdown, first: &next))
                        }
                        pipelines.stopGracefully()
                        notifier.stopGracefully()
                        group.cancelAll()
                        return results
                    }
                    try await client.shutdown()
                    await transport.shutdown()
                    return results
                } catch {
                    try? await client.shutdown()
                    await transport.shutdown()
                    throw error
                }
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(
            String(
                decoding: try encoder.encode(
                    Result(frames: described, coresKeptAwake: keepCoresAwake, detector: detector, rates: results)),
                as: UTF8.self))
    }

    /// Uploads at `rate` for `seconds` (open loop: each request leaves at its time whatever the others do),
    /// then waits for the alerts. With the paced baseline, the window is cut into blocks of `pacedBlock`
    /// seconds, and after each block (once its alerts are in) the detector alone runs the block's frames at the
    /// same offsets: the two take turns, so a slow spell of the machine falls on both alike.
    private func measure(
        rate: Double, upload: Uploader, sink: AlertSink, detector: DetectorAlone, breakdown: StepBreakdown?,
        first: inout Int
    ) async throws -> RateResult {
        let shouldAlert = detector.shouldAlert
        let count = Int(rate * seconds)
        let sequences = Array(first..<(first + count))
        first += count
        /// The names of the uploads among `sequences` whose frames should raise an alert.
        func alerting(_ sequences: some Sequence<Int>) -> Set<String> {
            Set(sequences.filter { shouldAlert[upload.frameIndex(sequence: $0)] }.map(upload.name))
        }
        let before = Set(sink.received.map(\.alert.image.name))
        let paced =
            pacedBaseline
            ? try await PacedDetector.make(threads: threads, spinning: spinning, warmingWith: upload.frames[0]) : nil
        let perBlock = paced == nil ? max(count, 1) : max(1, Int((rate * pacedBlock).rounded()))
        var sent: [String: Date] = [:]
        var pacedMilliseconds: [Int: PacedDetector.Time] = [:]
        var cpu = 0.0
        let steal = StealMeter()
        let watcher = watchThreads ? ThreadStateSampler() : nil
        for blockStart in stride(from: 0, to: count, by: perBlock) {
            watcher?.resume()
            let block = Array(sequences[blockStart..<min(count, blockStart + perBlock)])
            let cpuBefore = Self.processCPUMilliseconds()
            let start = ContinuousClock.now
            let blockSent = try await withThrowingTaskGroup(of: (String, Date).self) { group in
                for (index, sequence) in block.enumerated() {
                    try await Task.sleep(until: start + .seconds(Double(index) / rate), clock: .continuous)
                    group.addTask { (upload.name(sequence: sequence), try await upload.send(sequence: sequence)) }
                }
                var sent: [String: Date] = [:]
                for try await (name, time) in group { sent[name] = time }
                return sent
            }
            sent.merge(blockSent) { first, _ in first }
            try await Self.waitForAlerts(alerting(block), of: blockSent, at: sink)
            cpu += Self.processCPUMilliseconds() - cpuBefore
            // The detector alone is not watched: only the service's own waits are.
            watcher?.pause()
            if let paced {
                let times = try await paced.run(
                    block.map { upload.frames[upload.frameIndex(sequence: $0)] }, rate: rate)
                for (sequence, time) in zip(block, times) { pacedMilliseconds[sequence] = time }
            }
        }
        cpu /= Double(max(count, 1))
        let threadStates = watcher?.take()
        await watcher?.stop()
        let stolen = steal.percent
        let shared = DecodedImageCache.shared.statistics
        let pooled = PixelBuffer.Pool.shared.current
        let expected = alerting(sequences)
        let received = sink.received.filter {
            sent[$0.alert.image.name] != nil && !before.contains($0.alert.image.name)
        }
        let alerted = Set(received.map(\.alert.image.name))
        // Each alert's frame and its upload → alert time, in the order the alerts came.
        let timedAlerts = received.compactMap { received in
            sent[received.alert.image.name].map {
                (received.alert.image.name, received.receivedAt.timeIntervalSince($0) * 1000)
            }
        }
        let latencies = timedAlerts.map(\.1)
        let missing = expected.subtracting(alerted).count
        let unexpected = alerted.subtracting(expected).count
        // A confidence right at a threshold can tip either way; more than that means the run measured
        // something else.
        guard !latencies.isEmpty, (missing + unexpected) * 50 <= max(count, 1) else {
            throw ValidationError(
                "at \(rate)/s: \(expected.count) alerts expected, \(alerted.count) came; \(missing) missing, "
                    + "\(unexpected) unexpected: \(expected.symmetricDifference(alerted).sorted())")
        }
        let traced = breakdown?.steps(of: alerted)
        // The timed frames: both baselines below are taken on them.
        let timed = sequences.filter { alerted.contains(upload.name(sequence: $0)) }
        let baseline = detector.over(frames: timed.map(upload.frameIndex))
        var result = RateResult(
            rate: rate, uploads: count, expectedAlerts: expected.count, alerts: alerted.count, missing: missing,
            unexpected: unexpected, latencyMilliseconds: latencies, p50: median(latencies),
            p90: percentile(latencies, 90), p99: percentile(latencies, 99), max: latencies.max() ?? 0,
            detectorAloneP50: baseline.p50, detectorAloneP99: baseline.p99, cpuMillisecondsPerImage: cpu,
            stealPercent: stolen, steps: traced?.steps, slowest: traced?.slowest)
        report(
            String(
                format:
                    "%4.0f images/s for %.0f s: %d uploads, %d of %d expected alerts (%d unexpected); upload → alert "
                    + "p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms (over the detector alone: p50 %+.1f ms, "
                    + "p99 %+.1f ms; over the detector alone on these frames, p50 %.1f ms and p99 %.1f ms: "
                    + "p50 %+.1f ms, p99 %+.1f ms); CPU %.1f ms per image%@; so far %d decodes shared, %d missed, "
                    + "%d of %d frames decoded into kept blocks",
                rate, seconds, count, alerted.count - unexpected, expected.count, unexpected, result.p50, result.p90,
                result.p99, result.max, result.p50 - detector.p50, result.p99 - detector.p99, baseline.p50,
                baseline.p99, result.p50 - baseline.p50, result.p99 - baseline.p99, cpu, stealNote(stolen),
                shared.hits, shared.misses, pooled.reused, pooled.reused + pooled.allocated))
        let pacedTimes = timed.compactMap { pacedMilliseconds[$0]?.total }
        if !pacedTimes.isEmpty {
            let (p50, p99) = (median(pacedTimes), percentile(pacedTimes, 99))
            let inference = median(timed.compactMap { pacedMilliseconds[$0]?.inference })
            (result.pacedDetectorAloneP50, result.pacedDetectorAloneP99) = (p50, p99)
            result.pacedDetectorAloneInferenceP50 = inference
            report(
                String(
                    format: "  the detector alone on these frames, each at the time it was sent, taking turns with "
                        + "the service every %.0f s: p50 %.1f ms (inference %.1f), p99 %.1f ms; upload → alert over "
                        + "it: p50 %+.1f ms, p99 %+.1f ms", pacedBlock, p50, inference, p99, result.p50 - p50,
                    result.p99 - p99))
        }
        if let traced {
            report(
                "  the alerted frames' traces, step by step:\n"
                    + StepBreakdown.table(traced.steps, slowest: traced.slowest))
        }
        let sequenceOf = Dictionary(
            timed.map { (upload.name(sequence: $0), $0) }, uniquingKeysWith: { first, _ in first })
        let kinds = KindBreakdown.make(
            latencies: Dictionary(timedAlerts, uniquingKeysWith: { first, _ in first }),
            frameOf: { sequenceOf[$0].map { upload.frames[upload.frameIndex(sequence: $0)] } },
            paced: sequenceOf.compactMapValues { pacedMilliseconds[$0]?.total }, steps: traced?.perFrame ?? [:])
        result.kinds = kinds
        report("  upload → alert by kind of frame:\n" + KindBreakdown.table(kinds))
        if let threadStates {
            result.threadStates = threadStates
            report(ThreadStateSampler.line(threadStates))
        }
        return result
    }

    /// Returns once every alert in `expected` has arrived and a second passed with nothing new (the service is
    /// done with the frames `sent`), or nothing new came for 5 s, or a minute passed.
    private static func waitForAlerts(
        _ expected: Set<String>, of sent: [String: Date], at sink: AlertSink
    ) async throws {
        func arrived() -> Int { sink.received.count { sent[$0.alert.image.name] != nil } }
        var (seen, quietSince) = (0, ContinuousClock.now)
        for _ in 0..<6_000 {
            let now = arrived()
            if now >= expected.count && ContinuousClock.now - quietSince > .seconds(1) { return }
            if now != seen {
                (seen, quietSince) = (now, .now)
            } else if ContinuousClock.now - quietSince > .seconds(5) {
                return
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    static func processCPUMilliseconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func milliseconds(_ time: timeval) -> Double { Double(time.tv_sec) * 1000 + Double(time.tv_usec) / 1000 }
        return milliseconds(usage.ru_utime) + milliseconds(usage.ru_stime)
    }
}

/// PUTs the frames in `order`, upload `sequence` as `CameraWorkload.name` with that camera's device token;
/// returns when the request was sent.
struct Uploader: Sendable {
    let client: HTTPClient
    let base: String
    /// Camera k's token at k.
    let tokens: [String]
    let frames: [VariedFrames.Frame]
    let order: [Int]
    let workload: CameraWorkload

    func frameIndex(sequence: Int) -> Int { order[sequence % order.count] }

    func name(sequence: Int) -> String {
        workload.name(sequence: sequence, fileExtension: frames[frameIndex(sequence: sequence)].fileExtension)
    }

    func send(sequence: Int) async throws -> Date {
        var request = HTTPClientRequest(url: "\(base)/v1/images/\(name(sequence: sequence))")
        request.method = .PUT
        request.headers.add(name: "Authorization", value: "Bearer \(tokens[sequence % tokens.count])")
        request.body = .bytes(ByteBuffer(bytes: frames[frameIndex(sequence: sequence)].data))
        let sent = Date()
        let response = try await client.execute(request, timeout: .seconds(30))
        guard response.status == .created else {
            throw ValidationError("upload \(name(sequence: sequence)) answered \(response.status.code)")
        }
        return sent
    }
}
