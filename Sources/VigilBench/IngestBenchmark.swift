import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import VigilAccess
import VigilBackends
import VigilServer
import VigilStore

/// Uploads alone (no pipelines), as `vigil serve` takes them: many cameras PUT small distinct frames at once,
/// each acknowledged only once durable. Uploads per second and the acknowledgement's p50 and p99 at each
/// concurrency, medians of several rounds.
struct IngestBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest", abstract: "Time many cameras uploading at once through the HTTP API, no pipelines.")

    @Option(help: "Data folder to create (must not exist).") var home: String
    @Option(help: "Uploads per concurrency and round.") var uploads = 2_000
    @Option(parsing: .upToNextOption, help: "Clients uploading at once, each its own camera.")
    var concurrency: [Int] = [1, 16, 64]
    @Option(help: "Rounds; the concurrencies take turns in each.") var rounds = 3
    @Option(help: "The photos the frames are made from (`make bench-photos` puts them there).")
    var photos = ".deps/photos"
    @Option(help: "Keep metadata and tokens in this PostgreSQL database (password from PGPASSWORD).")
    var database: String?

    struct Result: Encodable {
        var concurrency: Int
        var uploadsPerSecond: Double
        var p50Milliseconds: Double
        var p99Milliseconds: Double
        /// Commits the uploads made, per upload (1 without group commit).
        var commitsPerUpload: Double
        var stealPercent: Double?
    }

    func validate() throws {
        guard uploads >= 10, rounds >= 1, !concurrency.isEmpty, concurrency.allSatisfy({ (1...1_024).contains($0) })
        else { throw ValidationError("need --uploads ≥ 10, --rounds ≥ 1 and concurrencies from 1 to 1024") }
    }

    func run() async throws {
        let folder = URL(fileURLWithPath: home)
        guard !FileManager.default.fileExists(atPath: folder.path) else {
            throw ValidationError("--home \(home) exists; give a new folder")
        }
        let logger = Logger(label: "vigil-bench") { _ in SwiftLogNoOpLogHandler() }
        // Small camera frames (CIF, as a motion camera's snapshot), each upload new bytes by its own comment.
        let frames = try VariedFrames.make(
            from: try VariedFrames.photos(in: photos), count: 500, sizes: [(352, 288)], qualities: [60, 70, 80],
            pngEvery: 0)
        report(
            String(
                format: "%d distinct frames of 352×288, %.1f KB on average, each upload tagged to be new bytes",
                frames.count, Double(frames.reduce(0) { $0 + $1.data.count }) / Double(frames.count) / 1000))
        let cameras = concurrency.max() ?? 1
        let results = try await Backends.with(
            home: folder, configuration: StoreConfiguration(database: database), create: true, logger: logger
        ) { backends in
            let store = backends.store
            let engine = try backends.engineEnvironment(stages: .vigil)
            try await store.createRepo("images", description: "camera frames as uploaded")
            let access = try backends.access()
            let tokens = try await CameraWorkload.deviceTokens(cameras, access: access)
            let server = try ServerEnvironment.benchmark(backends, engine: engine, access: access, logger: logger)
            let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
            let app = VigilAPI.application(server) { portSink.yield($0) }
            var httpConfiguration = HTTPClient.Configuration()
            httpConfiguration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 1_024
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: httpConfiguration)
            defer { _ = client.shutdown() }
            return try await withThrowingTaskGroup(of: [Result]?.self) { group in
                group.addTask {
                    try await app.run()
                    return nil
                }
                group.addTask {
                    try await WriterLeaseKeeper(store: store, logger: logger).run()
                    return nil
                }
                // As `vigil serve` runs it: its writes find files made ahead.
                for service in store.blobFilesMadeAhead {
                    group.addTask {
                        try await service.run()
                        return nil
                    }
                }
                var iterator = ports.makeAsyncIterator()
                guard let port = await iterator.next() else { throw CancellationError() }
                let base = "http://127.0.0.1:\(port)"
                var rates = [[Double]](repeating: [], count: concurrency.count)
                var latencies = [[Double]](repeating: [], count: concurrency.count)
                var commits = [Int](repeating: 0, count: concurrency.count)
                var steal = [Double](repeating: 0, count: concurrency.count)
                var next = 0
                for round in 1...rounds {
                    for (index, clients) in concurrency.enumerated() {
                        let first = next
                        next += uploads
                        let headBefore = try await store.resolveCommit("images", ref: nil)?.id
                        let meter = StealMeter()
                        let start = ContinuousClock.now
                        let times = try await Self.upload(
                            frames: frames, sequences: first..<(first + uploads), clients: clients, tokens: tokens,
                            base: base, client: client)
                        let seconds = milliseconds(ContinuousClock.now - start) / 1000
                        let made = try await Self.commits(in: store, from: headBefore)
                        rates[index].append(Double(uploads) / seconds)
                        latencies[index] += times
                        commits[index] += made
                        steal[index] += meter.percent ?? 0
                        report(
                            String(
                                format: "round %d, %3d clients: %.0f uploads/s, ack p50 %.1f ms, p99 %.1f ms; "
                                    + "%d commits for %d uploads", round, clients, Double(uploads) / seconds,
                                median(times), percentile(times, 99), made, uploads))
                    }
                }
                let results = concurrency.enumerated().map { index, clients in
                    Result(
                        concurrency: clients, uploadsPerSecond: median(rates[index]),
                        p50Milliseconds: median(latencies[index]), p99Milliseconds: percentile(latencies[index], 99),
                        commitsPerUpload: Double(commits[index]) / Double(uploads * rounds),
                        stealPercent: steal[index] / Double(rounds))
                }
                for result in results {
                    report(
                        String(
                            format: "%3d clients: %.0f uploads/s (median of %d rounds), ack p50 %.1f ms, p99 %.1f ms; "
                                + "%.2f commits per upload%@", result.concurrency, result.uploadsPerSecond, rounds,
                            result.p50Milliseconds, result.p99Milliseconds, result.commitsPerUpload,
                            stealNote(result.stealPercent)))
                }
                group.cancelAll()
                return results
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(String(decoding: try encoder.encode(results.compactMap { $0 }), as: UTF8.self))
    }

    /// `clients` loops, each its own camera, uploading the sequences in turn; the acknowledgement times.
    private static func upload(
        frames: [VariedFrames.Frame], sequences: Range<Int>, clients: Int, tokens: [String], base: String,
        client: HTTPClient
    ) async throws -> [Double] {
        try await withThrowingTaskGroup(of: [Double].self) { group in
            for camera in 0..<clients {
                group.addTask {
                    var times: [Double] = []
                    for sequence in stride(from: sequences.lowerBound + camera, to: sequences.upperBound, by: clients) {
                        let frame = frames[sequence % frames.count]
                        var request = HTTPClientRequest(
                            url: "\(base)/v1/images/cam\(camera)-\(1_700_000_000 + sequence).jpg")
                        request.method = .PUT
                        request.headers.add(name: "Authorization", value: "Bearer \(tokens[camera])")
                        request.body = .bytes(ByteBuffer(data: frame.tagged("\(sequence)")))
                        let start = ContinuousClock.now
                        let response = try await client.execute(request, timeout: .seconds(60))
                        guard response.status == .created else {
                            throw ValidationError("upload \(sequence) answered \(response.status.code)")
                        }
                        times.append(milliseconds(ContinuousClock.now - start))
                    }
                    return times
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
    }

    /// Commits on the images repo's default branch since `head`.
    private static func commits(in store: VersionedStore, from head: String?) async throws -> Int {
        var count = 0
        var current = try await store.resolveCommit("images", ref: nil)
        while let commit = current, commit.id != head {
            count += 1
            guard let parent = commit.parent else { break }
            current = try await store.commit(id: parent)
        }
        return count
    }
}
