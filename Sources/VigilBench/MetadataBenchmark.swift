import ArgumentParser
import Foundation
import Logging
import VigilBackends
import VigilStore

/// The metadata backends side by side, in one run: SQLite in a data folder against a PostgreSQL database
/// (`--database`, started by `make bench-postgres`), both with blobs on the local disk so only the metadata
/// differs. Times a 1-file commit (blob, tree, compare-and-swap of the head) one after another, and commits/s
/// with several writers at once, each on its own branch. Every commit writes different bytes.
struct MetadataBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metadata", abstract: "Time commits with metadata on SQLite and on PostgreSQL.")

    @Option(help: "Folder to create (must not exist); each backend gets a data folder in it.") var home: String
    @Option(help: "PostgreSQL database to use (empty; password from PGPASSWORD).") var database: String
    @Option(help: "Commits per latency run.") var commits = 200
    @Option(help: "Concurrent writers of the throughput runs.") var writers = 8
    @Option(help: "Commits per writer in a throughput run.") var commitsPerWriter = 100
    @Option(help: "Runs of each (medians are reported).") var runs = 5

    struct Figures: Encodable {
        var backend: String
        var commitMilliseconds: [Double]
        var commitMedian: Double
        var commitP99: Double
        var commitsPerSecond: [Double]
        var commitsPerSecondMedian: Double
    }

    struct Result: Encodable {
        var sqlite: Figures
        var postgres: Figures
        var latencyRatio: Double
        var throughputRatio: Double
        var stealPercent: Double?
    }

    func run() async throws {
        let logger = Logger(label: "vigil-bench") { _ in SwiftLogNoOpLogHandler() }
        let root = URL(fileURLWithPath: home)
        guard !FileManager.default.fileExists(atPath: root.path) else {
            throw ValidationError("'\(home)' exists; give a new folder")
        }
        let steal = StealMeter()
        let sqlite = try await Backends.with(
            home: root.appendingPathComponent("sqlite"), create: true, logger: logger
        ) { try await measure($0.store, backend: "sqlite") }
        let postgres = try await Backends.with(
            home: root.appendingPathComponent("postgres"), configuration: StoreConfiguration(database: database),
            create: true, logger: logger
        ) { try await measure($0.store, backend: "postgres") }
        let result = Result(
            sqlite: sqlite, postgres: postgres, latencyRatio: postgres.commitMedian / sqlite.commitMedian,
            throughputRatio: postgres.commitsPerSecondMedian / sqlite.commitsPerSecondMedian,
            stealPercent: steal.percent)
        report(
            String(
                format: "1-file commit p50: SQLite %.2f ms, PostgreSQL %.2f ms (×%.2f); %d writers: SQLite %.0f/s, "
                    + "PostgreSQL %.0f/s (×%.2f)",
                sqlite.commitMedian, postgres.commitMedian, result.latencyRatio, writers,
                sqlite.commitsPerSecondMedian, postgres.commitsPerSecondMedian, result.throughputRatio)
                + stealNote(result.stealPercent))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(String(decoding: try encoder.encode(result), as: UTF8.self))
    }

    private func measure(_ store: VersionedStore, backend: String) async throws -> Figures {
        try await store.createRepo("frames")
        var latencies: [Double] = []
        var runMedians: [Double] = []
        var rates: [Double] = []
        for run in 0..<runs {
            var times: [Double] = []
            for index in 0..<commits {
                let start = ContinuousClock.now
                let writer = try await store.openCommit(repo: "frames")
                try await writer.put(
                    "/cam\(index % 16)-\(1_700_000_000 + run * commits + index).jpg",
                    data: Data("\(backend) run \(run) frame \(index)".utf8))
                try await writer.finish(message: "one frame")
                times.append(milliseconds(ContinuousClock.now - start))
            }
            latencies += times
            runMedians.append(median(times))

            let branches = (0..<writers).map { "w\(run)-\($0)" }
            for branch in branches { _ = try await store.createBranch(branch, in: "frames") }
            let start = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (writerIndex, branch) in branches.enumerated() {
                    group.addTask {
                        for index in 0..<commitsPerWriter {
                            let writer = try await store.openCommit(repo: "frames", branch: branch)
                            try await writer.put(
                                "/w\(writerIndex)/frame-\(index).jpg",
                                data: Data("\(backend) \(branch) frame \(index)".utf8))
                            try await writer.finish(message: "one frame")
                        }
                    }
                }
                try await group.waitForAll()
            }
            let seconds = milliseconds(ContinuousClock.now - start) / 1000
            rates.append(Double(writers * commitsPerWriter) / seconds)
            report(
                String(
                    format: "%@ run %d: 1-file commit p50 %.2f ms; %d writers %.0f commits/s", backend, run,
                    median(times), writers, rates.last!))
        }
        return Figures(
            backend: backend, commitMilliseconds: latencies, commitMedian: median(runMedians),
            commitP99: percentile(latencies, 99), commitsPerSecond: rates, commitsPerSecondMedian: median(rates))
    }
}
