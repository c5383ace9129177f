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

/// Upload-to-alert latency of the whole system as `vigil serve` runs it: a camera PUTs a real photo over HTTP
/// at a steady rate; validate, detect (the real detector), threats and the notifier run in the same process;
/// the latency is from the request being sent to the alert's arrival at a local sink. Printed beside the
/// detector's own time on the same photo.
struct ServeBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Time upload → alert through the HTTP API, the pipelines and the notifier.")

    @Option(help: "Data folder to create (must not exist).") var home: String
    @Option(parsing: .upToNextOption, help: "Upload rates, images per second.") var rates: [Double] = [1, 5, 10]
    @Option(help: "Seconds at each rate.") var seconds = 60.0
    @Option(help: "Intra-op threads of the detector.") var threads = 2
    @Flag(help: "Let the detector's intra-op threads spin while they wait (ONNX Runtime's default).")
    var spinning = false
    @Flag(inversion: .prefixedNo, help: "Let validate leave its decoded pixels for detect (DecodedImageCache).")
    var shareDecoded = true
    @Option(
        help:
            "Send this one photo every time (dedup and the decode cache then flatter the figures); without it, varied frames made from the detector's sample photos."
    )
    var photo: String?
    @Option(help: "Keep metadata, jobs, alerts and tokens in this PostgreSQL database (password from PGPASSWORD).")
    var database: String?

    struct RateResult: Encodable {
        var rate: Double
        var uploads: Int
        var alerts: Int
        var latencyMilliseconds: [Double]
        var p50: Double
        var p99: Double
        var max: Double
        /// The process's CPU time (user + system) over the window, per upload: the whole system's work for one
        /// image, the uploading client and the sink included. Steadier than latency on a shared machine.
        var cpuMillisecondsPerImage: Double
        /// The share of the CPU time the machine wanted over the window that went to other guests, percent
        /// (`StealMeter`); nil where it cannot be read.
        var stealPercent: Double?
    }

    struct Result: Encodable {
        var detectorMilliseconds: Double
        var detectorWithDecodeMilliseconds: Double
        var detectorWithDecodeP99Milliseconds: Double
        /// Steal over the detector-alone runs, as `RateResult.stealPercent`.
        var detectorStealPercent: Double?
        var rates: [RateResult]
    }

    func run() async throws {
        let folder = URL(fileURLWithPath: home)
        guard !FileManager.default.fileExists(atPath: folder.path) else {
            throw ValidationError("--home \(home) exists; give a new folder")
        }
        let logger = Logger(label: "vigil-bench") { _ in SwiftLogNoOpLogHandler() }
        let frames: [VariedFrames.Frame]
        if let photo {
            let data = try Data(contentsOf: URL(fileURLWithPath: photo))
            let header = try ImageDecoder.header(data)
            frames = [
                .init(
                    data: data, fileExtension: header.format == .png ? "png" : "jpg", width: header.width,
                    height: header.height)
            ]
        } else {
            let samples = Detector.Configuration.defaultModelFolder().appendingPathComponent("samples")
            let photos = try ["bus.jpg", "zidane.jpg"].map { try Data(contentsOf: samples.appendingPathComponent($0)) }
            // One frame per upload: the warm-up and every rate's.
            let count = 1 + rates.reduce(0) { $0 + Int($1 * seconds) }
            frames = try VariedFrames.make(from: photos, count: count) { made in
                FileHandle.standardError.write(Data("\rmaking \(count) varied frames: \(made)".utf8))
            }
            report(
                "\r\(count) varied frames from \(photos.count) photos: "
                    + "\(frames.filter { $0.fileExtension == "png" }.count) PNG, sizes "
                    + Set(frames.map { "\($0.width)×\($0.height)" }).sorted().joined(separator: ", ")
                    + String(
                        format: ", %.0f KB on average",
                        Double(frames.reduce(0) { $0 + $1.data.count }) / Double(count) / 1000))
        }
        let steal = StealMeter()
        let (inference, detection, detectionP99) = try detectorTimes(frames)
        let detectorSteal = steal.percent
        report(
            String(
                format: "the detector alone (%d threads%@, on %d of the frames): inference p50 %.1f ms; with decoding "
                    + "p50 %.1f ms, p99 %.1f ms%@", threads, spinning ? ", spinning" : "", min(100, frames.count),
                inference, detection, detectionP99, stealNote(detectorSteal)))

        let configuration = StoreConfiguration(database: database)
        let results = try await Backends.with(home: folder, configuration: configuration, create: true, logger: logger)
        {
            backends in
            let store = backends.store
            let engine = try backends.engineEnvironment(stages: .vigil)
            try await setUp(store: store, engine: engine)
            let access = try backends.access()
            let token = try await access.createToken(name: "cam", role: .device, device: "cam", at: Date()).token
            let server = try ServerEnvironment.benchmark(backends, engine: engine, access: access, logger: logger)
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
                        var iterator = ports.makeAsyncIterator()
                        guard let port = await iterator.next() else { throw CancellationError() }
                        let upload = Uploader(
                            client: client, base: "http://127.0.0.1:\(port)", token: token, frames: frames)
                        // A warm-up image: every stage's worker loads (the detector's session) before timing.
                        _ = try await upload.send(at: 1_700_000_000)
                        for _ in 0..<3_000 where sink.stats.received < 1 {
                            try await Task.sleep(for: .milliseconds(10))
                        }
                        var results: [RateResult] = []
                        var next: Int64 = 1_700_000_001
                        for rate in rates {
                            results.append(try await measure(rate: rate, upload: upload, sink: sink, first: &next))
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
                    Result(
                        detectorMilliseconds: inference, detectorWithDecodeMilliseconds: detection,
                        detectorWithDecodeP99Milliseconds: detectionP99, detectorStealPercent: detectorSteal,
                        rates: results)),
                as: UTF8.self))
    }

    /// Uploads at `rate` for `seconds` (open loop: each request leaves at its time whatever the others do),
    /// then waits for the alerts.
    private func measure(
        rate: Double, upload: Uploader, sink: AlertSink, first: inout Int64
    ) async throws
        -> RateResult
    {
        let count = Int(rate * seconds)
        let before = sink.stats.received
        let cpuBefore = Self.processCPUMilliseconds()
        let steal = StealMeter()
        let start = ContinuousClock.now
        let names = (0..<count).map { upload.name(at: first + Int64($0)) }
        let sent = try await withThrowingTaskGroup(of: (String, Date).self) { group in
            for (index, name) in names.enumerated() {
                try await Task.sleep(until: start + .seconds(Double(index) / rate), clock: .continuous)
                let seconds = first + Int64(index)
                group.addTask { (name, try await upload.send(at: seconds)) }
            }
            var sent: [String: Date] = [:]
            for try await (name, time) in group { sent[name] = time }
            return sent
        }
        first += Int64(count)
        // Every alert, or none new for 5 s (a frame with no one in it raises none), at most a minute.
        var (seen, quietSince) = (sink.stats.received, ContinuousClock.now)
        for _ in 0..<6_000 where sink.stats.received < before + count {
            if sink.stats.received != seen {
                (seen, quietSince) = (sink.stats.received, .now)
            } else if ContinuousClock.now - quietSince > .seconds(5) {
                break
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        let cpu = (Self.processCPUMilliseconds() - cpuBefore) / Double(count)
        let stolen = steal.percent
        let shared = DecodedImageCache.shared.statistics
        let latencies = sink.received.compactMap { received in
            sent[received.alert.image.name].map { received.receivedAt.timeIntervalSince($0) * 1000 }
        }
        // A varied frame whose crop left no one in it is judged and raises no alert: its latency cannot be
        // read at the sink. Too few alerts means the run measured something else.
        guard latencies.count * 10 >= count * 9 else {
            throw ValidationError("at \(rate)/s: only \(latencies.count) of \(count) uploads became alerts")
        }
        let result = RateResult(
            rate: rate, uploads: count, alerts: latencies.count, latencyMilliseconds: latencies, p50: median(latencies),
            p99: percentile(latencies, 99), max: latencies.max() ?? 0, cpuMillisecondsPerImage: cpu,
            stealPercent: stolen)
        report(
            String(
                format:
                    "%4.0f images/s for %.0f s: %d uploads, %d alerts; upload → alert p50 %.1f ms, p99 %.1f ms, max %.1f ms; "
                    + "CPU %.1f ms per image%@; so far %d decodes shared, %d missed",
                rate, seconds, count, latencies.count, result.p50, result.p99, result.max, cpu, stealNote(stolen),
                shared.hits, shared.misses))
        return result
    }

    static func processCPUMilliseconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func milliseconds(_ time: timeval) -> Double { Double(time.tv_sec) * 1000 + Double(time.tv_usec) / 1000 }
        return milliseconds(usage.ru_utime) + milliseconds(usage.ru_stime)
    }

    /// The detector alone on (up to 100 of) the frames: median inference, median and p99 of decoding plus
    /// inference.
    private func detectorTimes(_ frames: [VariedFrames.Frame]) throws -> (Double, Double, Double) {
        var configuration = Detector.Configuration.defaultModel()
        configuration.intraOpThreads = threads
        configuration.allowSpinning = spinning
        let detector = try Detector(configuration)
        _ = try detector.detect(frames[0].data)
        var inference: [Double] = []
        var total: [Double] = []
        for index in 0..<100 {
            let result = try detector.detect(frames[index % frames.count].data)
            inference.append(result.inferenceMilliseconds)
            total.append(result.inferenceMilliseconds + result.decodeMilliseconds)
        }
        return (median(inference), median(total), percentile(total, 99))
    }

    private func setUp(store: VersionedStore, engine: EngineEnvironment) async throws {
        for repo in ["images", "rules"] { try await store.createRepo(repo) }
        let writer = try await store.openCommit(repo: "rules")
        try await writer.put(
            "/customers.yaml",
            data: Data(
                """
                customers:
                  - {id: acme, name: Acme, contacts: [{name: Ana, email: ana@acme.example}], devices: [cam], dangerous: {person: 0.25, bus: 0.3}}
                """.utf8))
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
    }
}

/// PUTs the frames in turn as `cam-<seconds>.<ext>` with the device's token; returns when the request was sent.
struct Uploader: Sendable {
    let client: HTTPClient
    let base: String
    let token: String
    let frames: [VariedFrames.Frame]

    private func frame(at seconds: Int64) -> VariedFrames.Frame {
        frames[Int((seconds - 1_700_000_000) % Int64(frames.count))]
    }

    func name(at seconds: Int64) -> String { "cam-\(seconds).\(frame(at: seconds).fileExtension)" }

    func send(at seconds: Int64) async throws -> Date {
        var request = HTTPClientRequest(url: "\(base)/v1/images/\(name(at: seconds))")
        request.method = .PUT
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.body = .bytes(ByteBuffer(bytes: frame(at: seconds).data))
        let sent = Date()
        let response = try await client.execute(request, timeout: .seconds(30))
        guard response.status == .created else {
            throw ValidationError("upload \(name(at: seconds)) answered \(response.status.code)")
        }
        return sent
    }
}
