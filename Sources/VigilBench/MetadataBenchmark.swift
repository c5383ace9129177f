import ArgumentParser
import Foundation
import Logging
import VigilBackends
import VigilPipeline
import VigilStore

/// The metadata backends side by side, in one run: SQLite in a data folder against a PostgreSQL database
/// (`--database`, started by `make bench-postgres`), both with blobs on the local disk so only the metadata
/// differs. Times a 1-file commit (blob, tree, compare-and-swap of the head) one after another, commits/s with
/// several writers at once, each on its own branch, and no-op datums/s through the engine (whose job and datum
/// records are in the same backend). Every commit writes different bytes.
struct MetadataBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metadata", abstract: "Time commits with metadata on SQLite and on PostgreSQL.")

    @Option(help: "Folder to create (must not exist); each backend gets a data folder in it.") var home: String
    @Option(help: "PostgreSQL database to use (empty; password from PGPASSWORD).") var database: String
    @Option(help: "Commits per latency run.") var commits = 200
    @Option(help: "Concurrent writers of the throughput runs.") var writers = 8
    @Option(help: "Commits per writer in a throughput run.") var commitsPerWriter = 100
    @Option(help: "Datums per engine run.") var datums = 2_000
    @Option(help: "Runs of each (medians are reported).") var runs = 5

    struct Figures: Encodable {
        var backend: String
        var commitMilliseconds: [Double]
        var commitMedian: Double
        var commitP99: Double
        var commitsPerSecond: [Double]
        var commitsPerSecondMedian: Double
        var datumsPerSecond: [Double]
        var datumsPerSecondMedian: Double
    }

    struct Result: Encodable {
        var sqlite: Figures
        var postgres: Figures
        var latencyRatio: Double
        var throughputRatio: Double
        var datumsRatio: Double
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
        ) { try await measure($0, backend: "sqlite") }
        let postgres = try await Backends.with(
            home: root.appendingPathComponent("postgres"), configuration: StoreConfiguration(database: database),
            create: true, logger: logger
        ) { try await measure($0, backend: "postgres") }
        let result = Result(
            sqlite: sqlite, postgres: postgres, latencyRatio: postgres.commitMedian / sqlite.commitMedian,
            throughputRatio: postgres.commitsPerSecondMedian / sqlite.commitsPerSecondMedian,
            datumsRatio: postgres.datumsPerSecondMedian / sqlite.datumsPerSecondMedian, stealPercent: steal.percent)
        report(
            String(
                format: "1-file commit p50: SQLite %.2f ms, PostgreSQL %.2f ms (×%.2f); %d writers: SQLite %.0f/s, "
                    + "PostgreSQL %.0f/s (×%.2f); no-op datums: SQLite %.0f/s, PostgreSQL %.0f/s (×%.2f)",
                sqlite.commitMedian, postgres.commitMedian, result.latencyRatio, writers,
                sqlite.commitsPerSecondMedian, postgres.commitsPerSecondMedian, result.throughputRatio,
                sqlite.datumsPerSecondMedian, postgres.datumsPerSecondMedian, result.datumsRatio)
                + stealNote(result.stealPercent))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(String(decoding: try encoder.encode(result), as: UTF8.self))
    }

    private func measure(_ backends: Backends, backend: String) async throws -> Figures {
        let store = backends.store
        let environment = try backends.engineEnvironment(stages: .builtIn)
        try await store.createRepo("frames")
        try await store.createRepo("inputs")
        var datumRates: [Double] = []
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

            // No-op datums: a fresh folder of inputs per run, and a pipeline over just that folder.
            let inputs = try await store.openCommit(repo: "inputs")
            for index in 0..<datums {
                try await inputs.put(
                    "/r\(run)/cam\(index % 16)-\(index).jpg", data: Data("\(backend) \(run) \(index)".utf8))
            }
            try await inputs.finish(message: "\(datums) frames")
            let yaml = """
                {name: noop\(run), input: {pfs: {repo: inputs, glob: '/r\(run)/*'}}, transform: {stage: noop}, \
                parallelism: 2}
                """
            try await PipelineManager(environment: environment).create(try PipelineSpecParser.parse(yaml), source: yaml)
            let engineStart = ContinuousClock.now
            let jobs = try await PipelineEngine(environment: environment).runUntilIdle(only: ["noop\(run)"])
            guard jobs.count == 1, jobs[0].counts.processed == datums else {
                throw ValidationError("\(backend) run \(run): expected one job of \(datums) datums, got \(jobs)")
            }
            datumRates.append(Double(datums) / (milliseconds(ContinuousClock.now - engineStart) / 1000))
            report(
                String(
                    format: "%@ run %d: 1-file commit p50 %.2f ms; %d writers %.0f commits/s; %.0f no-op datums/s",
                    backend, run, median(times), writers, rates.last!, datumRates.last!))
        }
        return Figures(
            backend: backend, commitMilliseconds: latencies, commitMedian: median(runMedians),
            commitP99: percentile(latencies, 99), commitsPerSecond: rates, commitsPerSecondMedian: median(rates),
            datumsPerSecond: datumRates, datumsPerSecondMedian: median(datumRates))
    }
}
