import ArgumentParser
import Foundation
import Logging
import VigilPipeline
import VigilStore

/// The engine's own cost, on the embedded default (a data folder on disk, SQLite):
/// - throughput: N datums through a no-op built-in stage, against the store alone writing N index-sized
///   files into one commit in the same process (the floor any per-datum bookkeeping stands on);
/// - latency: one new file through a chain of three pass-through stages, from the start of its put to the
///   commit at the end of the chain, with the engine running as a service; against one plain 1-file commit.
struct EngineBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine", abstract: "Time the pipeline engine: no-op datums/s and the latency through a chain.")

    @Option(help: "Data folder to create (must not exist).") var home: String
    @Option(help: "Datums per throughput run.") var datums = 10_000
    @Option(help: "Throughput runs (the median is reported).") var runs = 5
    @Option(help: "Files sent one by one through the chain.") var files = 200
    @Option(help: "Workers of the no-op pipeline.") var parallelism = 2

    struct Result: Encodable {
        var datums: Int
        var engineDatumsPerSecond: [Double]
        var storeFilesPerSecond: [Double]
        var engineMedian: Double
        var storeMedian: Double
        var chainMilliseconds: [Double]
        var chainMedian: Double
        var chainP99: Double
        var commitMedian: Double
        var peakMemoryMiB: Double
    }

    func run() async throws {
        try await withBenchmarkHome(home, stages: .builtIn) { store, environment in
            let manager = PipelineManager(environment: environment)

            // Throughput.
            try await store.createRepo("frames")
            let writer = try await store.openCommit(repo: "frames")
            for index in 0..<datums {
                try await writer.put(
                    "/cam\(index % 16)-\(1_700_000_000 + index).jpg", data: Data("frame \(index)".utf8))
            }
            try await writer.finish(message: "\(datums) frames")
            var engineRates: [Double] = []
            var storeRates: [Double] = []
            for run in 0..<runs {
                let yaml = """
                    {name: noop\(run), input: {pfs: {repo: frames, glob: '/*'}}, transform: {stage: noop}, \
                    parallelism: \(parallelism)}
                    """
                try await manager.create(try PipelineSpecParser.parse(yaml), source: yaml)
                let start = ContinuousClock.now
                let jobs = try await PipelineEngine(environment: environment).runUntilIdle(only: ["noop\(run)"])
                let seconds = milliseconds(ContinuousClock.now - start) / 1000
                guard jobs.count == 1, jobs[0].counts.processed == datums else {
                    throw ValidationError("run \(run): expected one job of \(datums) datums, got \(jobs)")
                }
                engineRates.append(Double(datums) / seconds)

                // The store alone: as many small files, distinct per run, into one commit.
                try await store.createRepo("plain\(run)")
                let storeStart = ContinuousClock.now
                let plain = try await store.openCommit(repo: "plain\(run)")
                for index in 0..<datums {
                    try await plain.put(
                        "/d/\(run)-\(index)", data: Data("{\"datum\":\"\(run)-\(index)\",\"outputs\":[]}".utf8))
                }
                try await plain.finish()
                storeRates.append(Double(datums) / (milliseconds(ContinuousClock.now - storeStart) / 1000))
                report(
                    String(
                        format: "run %d: engine %.0f no-op datums/s; store alone %.0f files/s", run, engineRates.last!,
                        storeRates.last!))
            }

            // Latency through a chain of three stages, with the engine running as a service.
            try await store.createRepo("uploads")
            for (name, input) in [("one", "uploads"), ("two", "one"), ("three", "two")] {
                let yaml = "{name: \(name), input: {pfs: {repo: \(input), glob: '/*'}}, transform: {stage: copy}}"
                try await manager.create(try PipelineSpecParser.parse(yaml), source: yaml)
            }
            var chain: [Double] = []
            var commits: [Double] = []
            let engine = PipelineEngine(environment: environment)
            // As `vigil engine` runs: commits close together share writer leases.
            let keeper = WriterLeaseKeeper(
                store: store, logger: Logger(label: "vigil-bench") { _ in SwiftLogNoOpLogHandler() })
            try await withThrowingTaskGroup(of: Void.self) { leases in
                leases.addTask { try await keeper.run() }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await engine.run() }
                    for index in 0..<files {
                        let feed = store.commits.subscribe()
                        let start = ContinuousClock.now
                        let put = try await store.openCommit(repo: "uploads")
                        try await put.put("/cam1-\(1_800_000_000 + index).jpg", data: Data("image \(index)".utf8))
                        try await put.finish()
                        commits.append(milliseconds(ContinuousClock.now - start))
                        for await commit in feed where commit.repo == "three" && commit.tree.files == Int64(index + 1) {
                            break
                        }
                        chain.append(milliseconds(ContinuousClock.now - start))
                    }
                    engine.stopGracefully()
                    try await group.waitForAll()
                }
                leases.cancelAll()
            }
            let result = Result(
                datums: datums, engineDatumsPerSecond: engineRates, storeFilesPerSecond: storeRates,
                engineMedian: median(engineRates), storeMedian: median(storeRates), chainMilliseconds: chain,
                chainMedian: median(chain), chainP99: percentile(chain, 99), commitMedian: median(commits),
                peakMemoryMiB: peakMemoryMiB())
            report(
                String(
                    format: """
                        throughput: %.0f no-op datums/s (median of %d runs of %d, %d workers); the store alone writes \
                        %.0f files/s in the same process: engine/store = %.2f
                        latency, 1 file through 3 stages (put start → end of chain, %d files): median %.2f ms, p99 \
                        %.2f ms; one plain 1-file commit: median %.2f ms (chain/commit = %.1f)
                        peak memory: %.0f MiB
                        """, result.engineMedian, runs, datums, parallelism, result.storeMedian,
                    result.engineMedian / result.storeMedian, files, result.chainMedian, result.chainP99,
                    result.commitMedian, result.chainMedian / result.commitMedian, result.peakMemoryMiB))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
        }
    }
}
