import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import VigilAlertSink
import VigilAlerts
import VigilBackends
import VigilStages
import VigilStore

/// Many frames through one `vigil serve` process, as fast as it keeps up: whether its latency and resident memory
/// stay flat. The service runs as its own process (the binary users run), so its memory is its own; the alert
/// sink and the cameras are in this one. Every frame uploaded is one that raises an alert (from a pool of varied
/// frames, each upload made new bytes by a comment), so each frame's end is seen at the sink, and at most
/// `--in-flight` frames wait for their alerts at a time.
struct SoakBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "soak", abstract: "Push many frames through one `vigil serve`; RSS and latency per window.")

    @Option(help: "Data folder to create (must not exist).") var home: String
    @Option(help: "The vigil binary to run as the service.") var vigil = ".build/release/vigil"
    @Option(help: "Frames to push.") var frames = 20_000
    @Option(help: "Frames per window of figures.") var window = 1_000
    @Option(help: "Frames waiting for their alerts at most at a time.") var inFlight = 2
    @Option(help: "Distinct frames that raise alerts, reused with a new comment each time.") var pool = 300
    @Option(help: "Cameras taking turns to upload.") var cameras = 5
    @Option(help: "Intra-op threads of the detector.") var threads = 2
    @Option(help: "The photos the frames are made from (`make bench-photos` puts them there).")
    var photos = ".deps/photos"

    struct Window: Encodable {
        /// Frames pushed by the window's end.
        var frames: Int
        var framesPerSecond: Double
        var p50: Double
        var p99: Double
        /// The service's resident memory at the window's end, and its CPU time per frame over the window.
        var rssMegabytes: Double
        var cpuMillisecondsPerFrame: Double
        var stealPercent: Double?
    }

    struct Result: Encodable {
        var windows: [Window]
        /// The last window's p50 over the first's.
        var p50Ratio: Double
        /// The resident memory at the end over that after the second window (2,000 frames by default).
        var rssRatio: Double
    }

    func validate() throws {
        guard frames >= window, window >= 10, inFlight >= 1, pool >= 10, cameras >= 1 else {
            throw ValidationError(
                "need --frames ≥ --window ≥ 10, --in-flight ≥ 1, --pool ≥ 10 and --cameras ≥ 1")
        }
        guard FileManager.default.isExecutableFile(atPath: vigil) else {
            throw ValidationError("no vigil binary at \(vigil); build it (`make release`) or give --vigil")
        }
    }

    func run() async throws {
        let folder = URL(fileURLWithPath: home)
        guard !FileManager.default.fileExists(atPath: folder.path) else {
            throw ValidationError("--home \(home) exists; give a new folder")
        }
        let logger = Logger(label: "vigil-bench") { _ in SwiftLogNoOpLogHandler() }
        let workload = try CameraWorkload(cameras: cameras)
        let frames = try alertingFrames(workload: workload)
        let tokens = try await Backends.with(
            home: folder, configuration: StoreConfiguration(), create: true, logger: logger
        ) { backends in
            try await workload.install(
                store: backends.store, engine: try backends.engineEnvironment(stages: .vigil),
                access: try backends.access(), threads: threads, spinning: false, shareDecoded: true)
        }
        let secret = "vigil-benchmark-secret-0123456789"
        let secretFile = folder.appendingPathComponent("alert-secret")
        try Data(secret.utf8).write(to: secretFile)
        let signature = try AlertSignature(secret: secret)
        let sink = try AlertSink(signature: signature)
        let windows = try await sink.whileRunning(logger: logger) { alertURL in
            let service = try ServiceProcess(
                vigil: vigil,
                arguments: [
                    "serve", "--home", folder.path, "--port", "0", "--alert-url", alertURL.absoluteString,
                    "--alert-secret-file", secretFile.path,
                ], log: folder.appendingPathComponent("serve.log"))
            let client = HTTPClient(eventLoopGroupProvider: .singleton)
            do {
                let base = try await service.waitForListening()
                let windows = try await push(
                    frames: frames, workload: workload, tokens: tokens, base: base, client: client, sink: sink,
                    service: service)
                try await client.shutdown()
                service.stop()
                return windows
            } catch {
                try? await client.shutdown()
                service.stop()
                throw error
            }
        }
        let baseline = windows.count > 1 ? windows[1] : windows[0]
        let result = Result(
            windows: windows, p50Ratio: windows[windows.count - 1].p50 / windows[0].p50,
            rssRatio: windows[windows.count - 1].rssMegabytes / baseline.rssMegabytes)
        report(
            String(
                format: "last window's p50 / first's: %.2f; RSS at the end / after %d frames: %.2f", result.p50Ratio,
                baseline.frames, result.rssRatio))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(String(decoding: try encoder.encode(result), as: UTF8.self))
    }

    /// `pool` varied frames that raise alerts, by the validator's and the detector's own answers.
    private func alertingFrames(workload: CameraWorkload) throws -> [VariedFrames.Frame] {
        let count = pool * 5 / 2
        let made = try VariedFrames.make(from: try VariedFrames.photos(in: photos), count: count) { made in
            FileHandle.standardError.write(Data("\rmaking \(count) varied frames: \(made)".utf8))
        }
        let detector = try DetectorAlone.measure(made, threads: threads, spinning: false, workload: workload) {
            FileHandle.standardError.write(Data("\rthe detector alone: \($0) of \(made.count) frames".utf8))
        }
        let alerting = made.indices.filter { detector.shouldAlert[$0] }.prefix(pool).map { made[$0] }
        guard alerting.count >= 10 else {
            throw ValidationError("only \(alerting.count) of \(count) frames raise alerts; use other photos")
        }
        report(
            String(
                format: "\r%d distinct frames that raise alerts (of %d made); the detector alone on them: p50 %.1f ms",
                alerting.count, count, detector.p50))
        return alerting
    }

    /// Uploads every frame, at most `inFlight` waiting for their alerts, and the figures of each window.
    private func push(
        frames pool: [VariedFrames.Frame], workload: CameraWorkload, tokens: [String], base: String,
        client: HTTPClient, sink: AlertSink, service: ServiceProcess
    ) async throws -> [Window] {
        var windows: [Window] = []
        var sent: [String: Date] = [:]
        var counted = sink.stats.received
        var windowStart = (time: ContinuousClock.now, cpu: try service.cpuMilliseconds(), steal: StealMeter())
        for sequence in 1...frames {
            try await waitForAlerts(sink: sink, atMost: inFlight - 1, sent: sequence - 1, service: service)
            let frame = pool[sequence % pool.count]
            let name = workload.name(sequence: sequence, fileExtension: frame.fileExtension)
            var request = HTTPClientRequest(url: "\(base)/v1/images/\(name)")
            request.method = .PUT
            request.headers.add(name: "Authorization", value: "Bearer \(tokens[sequence % tokens.count])")
            request.body = .bytes(ByteBuffer(data: frame.tagged("\(sequence)")))
            sent[name] = Date()
            let response = try await client.execute(request, timeout: .seconds(60))
            guard response.status == .created else {
                throw ValidationError("upload \(name) answered \(response.status.code)")
            }
            guard sequence % window == 0 else { continue }
            try await waitForAlerts(sink: sink, atMost: 0, sent: sequence, service: service)
            let received = sink.received
            let latencies = received[counted...].compactMap { alert in
                sent[alert.alert.image.name].map { alert.receivedAt.timeIntervalSince($0) * 1000 }
            }
            counted = received.count
            sent.removeAll(keepingCapacity: true)
            let seconds = milliseconds(ContinuousClock.now - windowStart.time) / 1000
            let cpu = try service.cpuMilliseconds()
            let result = Window(
                frames: sequence, framesPerSecond: Double(window) / seconds, p50: median(latencies),
                p99: percentile(latencies, 99), rssMegabytes: try service.residentMegabytes(),
                cpuMillisecondsPerFrame: (cpu - windowStart.cpu) / Double(window),
                stealPercent: windowStart.steal.percent)
            windows.append(result)
            report(
                String(
                    format: "%6d frames: %.1f frames/s, upload → alert p50 %.1f ms, p99 %.1f ms; RSS %.0f MB; "
                        + "CPU %.1f ms per frame%@", sequence, result.framesPerSecond, result.p50, result.p99,
                    result.rssMegabytes, result.cpuMillisecondsPerFrame, stealNote(result.stealPercent)))
            windowStart = (ContinuousClock.now, cpu, StealMeter())
        }
        return windows
    }

    /// Until at most `atMost` of the `sent` frames wait for their alerts; an alert that does not come within a
    /// minute is an error (every frame pushed raises one).
    private func waitForAlerts(sink: AlertSink, atMost: Int, sent: Int, service: ServiceProcess) async throws {
        let since = ContinuousClock.now
        while sent - sink.stats.received > atMost {
            guard service.isRunning else { throw ValidationError("vigil serve exited; see \(service.log.path)") }
            guard ContinuousClock.now - since < .seconds(60) else {
                throw ValidationError(
                    "\(sent - sink.stats.received) alerts did not come within a minute (\(sink.stats.received) of "
                        + "\(sent) came); see \(service.log.path)")
            }
            try await Task.sleep(for: .milliseconds(2))
        }
    }
}
