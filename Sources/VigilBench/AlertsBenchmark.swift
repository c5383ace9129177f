import ArgumentParser
import Foundation
import Logging
import Synchronization
import VigilAlertSink
import VigilAlerts
import VigilBackends
import VigilStages
import VigilStore

/// The notifier's cost, against a real alert sink on loopback in the same process:
/// - throughput: N threat records in one commit, ingested and delivered (signed, recorded) until all are at
///   the sink, against the raw floor: the same number of the same payloads POSTed by the same HTTP client at
///   the same concurrency, with no store, no database and no bookkeeping;
/// - latency: single-threat commits at a steady rate into a running (event-driven) notifier, from the commit
///   returning to the alert's arrival at the sink.
struct AlertsBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alerts", abstract: "Time the notifier: alerts/s to a local sink, and commit-to-receipt latency.")

    @Option(help: "Data folder to create (must not exist).") var home: String
    @Option(help: "Alerts per throughput run.") var alerts = 2_000
    @Option(help: "Throughput runs (the median is reported).") var runs = 5
    @Option(help: "Deliveries in flight at once (notifier and raw alike).") var concurrency = 8
    @Option(help: "Single-threat commits for the latency run.") var latencyAlerts = 200
    @Option(help: "Milliseconds between those commits.") var intervalMs = 20
    @Option(help: "Keep metadata and the alert state in this PostgreSQL database (password from PGPASSWORD).")
    var database: String?

    struct Result: Encodable {
        var alerts: Int
        var concurrency: Int
        var notifierAlertsPerSecond: [Double]
        var rawAlertsPerSecond: [Double]
        var notifierMedian: Double
        var rawMedian: Double
        var ratio: Double
        var latencyMilliseconds: [Double]
        var latencyMedian: Double
        var latencyP99: Double
        var commitsPerSecond: Double
    }

    func run() async throws {
        let folder = URL(fileURLWithPath: home)
        guard !FileManager.default.fileExists(atPath: folder.path) else {
            throw ValidationError("--home \(home) exists; give a new folder")
        }
        let logger = Logger(label: "vigil-bench") { _ in SwiftLogNoOpLogHandler() }
        let configuration = StoreConfiguration(database: database)
        try await Backends.with(home: folder, configuration: configuration, create: true, logger: logger) { backends in
            let signature = try AlertSignature(secret: "vigil-benchmark-secret-0123456789")
            let sink = try AlertSink(signature: signature)
            try await sink.whileRunning(logger: logger) { url in
                let transport = try HTTPAlertTransport(url: url, signature: signature, maxConnections: concurrency)
                do {
                    try await measure(
                        store: backends.store, alerts: try backends.alerts(), sink: sink, transport: transport,
                        logger: logger)
                    await transport.shutdown()
                } catch {
                    await transport.shutdown()
                    throw error
                }
            }
        }
    }

    /// Every run delivers from its own threats repo into the one alert store (the cursor is per repo).
    private func measure(
        store: VersionedStore, alerts database: any AlertStore, sink: AlertSink, transport: HTTPAlertTransport,
        logger: Logger
    ) async throws {
        var configuration = NotifierConfiguration()
        configuration.concurrency = concurrency
        var notifierRates: [Double] = []
        var rawRates: [Double] = []
        for run in 0..<runs {
            let records = try (0..<alerts).map { try Self.record(run: run, index: $0) }
            configuration.repo = "threats\(run)"
            try await store.createRepo(configuration.repo)
            let writer = try await store.openCommit(repo: configuration.repo)
            for record in records { try await writer.put(record.imagePath + ".json", data: try record.encoded()) }
            let commit = try await writer.finish(message: "\(alerts) threats")

            let before = sink.stats.received
            let notifier = try Notifier(
                store: store, database: database, transport: transport, configuration: configuration, logger: logger)
            let start = ContinuousClock.now
            try await notifier.runUntilIdle()
            let notifierSeconds = milliseconds(ContinuousClock.now - start) / 1000
            guard sink.stats.received - before == alerts else {
                throw ValidationError("run \(run): \(sink.stats.received - before) of \(alerts) alerts arrived")
            }
            notifierRates.append(Double(alerts) / notifierSeconds)

            // The floor: the same payloads, already built, straight through the same client.
            let bodies = try records.enumerated().map { index, record in
                let alert = AlertInfo(
                    id: "raw\(run)x\(index)", state: .open, level: 0, customer: record.customer, device: record.device,
                    time: record.time, threat: "\(configuration.repo)@\(commit.id):\(record.imagePath).json",
                    record: record, created: Date())
                let image = AlertPayload.Image(
                    name: record.image.name, width: record.image.width, height: record.image.height,
                    bytes: record.image.bytes, sha256: record.image.sha256,
                    address: "\(configuration.repo)@\(commit.id):\(record.imagePath)")
                return OutgoingAlert(
                    idempotencyKey: AlertInfo.idempotencyKey(alert: alert.id, level: 0),
                    body: try AlertPayload(alert: alert, level: 0, image: image).encoded(), attempt: 1)
            }
            let rawStart = ContinuousClock.now
            try await Self.post(bodies, through: transport, concurrency: concurrency)
            rawRates.append(Double(alerts) / (milliseconds(ContinuousClock.now - rawStart) / 1000))
            report(
                String(
                    format: "run %d: notifier %.0f alerts/s, raw client %.0f alerts/s", run + 1, notifierRates.last!,
                    rawRates.last!))
        }

        let (latencies, commitRate) = try await measureLatency(
            store: store, alerts: database, sink: sink, transport: transport, configuration: configuration,
            logger: logger)
        let result = Result(
            alerts: alerts, concurrency: concurrency, notifierAlertsPerSecond: notifierRates,
            rawAlertsPerSecond: rawRates, notifierMedian: median(notifierRates), rawMedian: median(rawRates),
            ratio: median(notifierRates) / median(rawRates), latencyMilliseconds: latencies,
            latencyMedian: median(latencies), latencyP99: percentile(latencies, 99), commitsPerSecond: commitRate)
        report(
            String(
                format:
                    "throughput (%d alerts, concurrency %d, median of %d): notifier %.0f alerts/s, raw %.0f alerts/s, ratio %.2f",
                alerts, concurrency, runs, result.notifierMedian, result.rawMedian, result.ratio))
        report(
            String(
                format: "latency, threat commit → receipt at the sink (%d commits at %.0f/s): p50 %.2f ms, p99 %.2f ms",
                latencies.count, commitRate, result.latencyMedian, result.latencyP99))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(String(decoding: try encoder.encode(result), as: UTF8.self))
    }

    /// Commits one threat at a time into a running notifier and times each to its arrival at the sink.
    private func measureLatency(
        store: VersionedStore, alerts database: any AlertStore, sink: AlertSink, transport: HTTPAlertTransport,
        configuration base: NotifierConfiguration, logger: Logger
    ) async throws -> ([Double], Double) {
        var configuration = base
        configuration.repo = "live"
        try await store.createRepo(configuration.repo)
        let notifier = try Notifier(
            store: store, database: database, transport: transport, configuration: configuration, logger: logger)
        var committed: [String: Date] = [:]
        let before = sink.stats.received
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await notifier.run() }
            for index in 0..<latencyAlerts {
                let record = try Self.record(run: 1_000, index: index)
                let writer = try await store.openCommit(repo: configuration.repo)
                try await writer.put(record.imagePath + ".json", data: try record.encoded())
                try await writer.finish()
                committed[AlertInfo.idempotencyKey(alert: AlertInfo.id(for: record), level: 0)] = Date()
                try await Task.sleep(for: .milliseconds(intervalMs))
            }
            for _ in 0..<1_000 where sink.stats.received < before + latencyAlerts {
                try await Task.sleep(for: .milliseconds(10))
            }
            notifier.stopGracefully()
            try await group.waitForAll()
        }
        let rate = Double(latencyAlerts) / (milliseconds(ContinuousClock.now - start) / 1000)
        let latencies = sink.received.compactMap { received in
            committed[received.idempotencyKey].map { received.receivedAt.timeIntervalSince($0) * 1000 }
        }
        guard latencies.count == latencyAlerts else {
            throw ValidationError("\(latencies.count) of \(latencyAlerts) alerts arrived")
        }
        return (latencies, rate)
    }

    /// POSTs every alert, `concurrency` at a time; any that is not delivered fails the benchmark.
    private static func post(
        _ alerts: [OutgoingAlert], through transport: HTTPAlertTransport, concurrency: Int
    )
        async throws
    {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = alerts.makeIterator()
            func add() {
                guard let alert = next.next() else { return }
                group.addTask {
                    guard case .delivered = await transport.send(alert) else {
                        throw ValidationError("the sink did not take \(alert.idempotencyKey)")
                    }
                }
            }
            for _ in 0..<concurrency { add() }
            while try await group.next() != nil { add() }
        }
    }

    /// A threat record as the threats stage writes it, for image `index` of `run`.
    static func record(run: Int, index: Int) throws -> ThreatRecord {
        let device = "cam\(index % 16)"
        let time = 1_763_800_000 + run * 100_000 + index
        let name = "\(device)-\(time).jpg"
        let text = """
            {"customer": "acme", "customerName": "Acme Storage Ltd", "device": "\(device)", "time": \(time),
             "isoTime": "2025-11-22T08:26:40Z", "localTime": "2025-11-22T08:26:40Z",
             "labels": [{"label": "person", "confidence": 0.91, "count": 1, "minConfidence": 0.6}],
             "image": {"name": "\(name)", "width": 640, "height": 480, "bytes": 48213,
                       "sha256": "\(BlobHash(of: Data(name.utf8)).hex)", "address": "validate@00:/valid/\(name)"},
             "imagePath": "/\(device)/\(name)", "detection": "detect@00:/\(device)/\(name).json",
             "rules": {"commit": "r", "tree": "t"}, "model": {"name": "yolov4-tiny", "sha256": "m", "labels": 80},
             "contacts": [{"name": "Ana Lee", "email": "ana@acme.example"}], "acknowledgeWithin": 600}
            """
        return try JSONDecoder().decode(ThreatRecord.self, from: Data(text.utf8))
    }
}
