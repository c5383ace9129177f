import ArgumentParser
import Foundation
import Logging
import VigilBackends
import VigilStore
import VigilVision

@main
struct VigilBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vigil-bench",
        abstract:
            "In-process benchmarks: store, engine, vision, notifier, S3, the service, metadata backends (docs/benchmarks.md).",
        subcommands: [
            TreeBenchmark.self, EngineBenchmark.self, VisionBenchmark.self, AlertsBenchmark.self, S3Benchmark.self,
            ServeBenchmark.self, SoakBenchmark.self, IngestBenchmark.self, MetadataBenchmark.self,
            ConnectionsBenchmark.self, ErasureBenchmark.self, PNGBenchmark.self, DecodeBenchmark.self,
        ])

    /// The service measured here holds its frames' memory as `vigil` does.
    static func main() async {
        FrameMemory.mapLargeBlocks()
        do {
            var command = try parseAsRoot()
            guard var asynchronous = command as? AsyncParsableCommand else { return try command.run() }
            try await asynchronous.run()
        } catch {
            exit(withError: error)
        }
    }
}

/// Commit one file into a repo of N files, and diff that change, for each N; medians of several runs.
/// The N files sit in one folder (the worst case: `/valid/*` of a busy pipeline) and share a pool of blobs,
/// since the tree's cost depends on names and structure, not on the bytes behind them.
struct TreeBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tree", abstract: "Time a one-file commit and its diff in repos of growing size.")

    @Option(help: "Data folder to create (must not exist).") var home: String
    @Option(parsing: .upToNextOption, help: "Repo sizes in files.") var sizes: [Int] = [100_000, 1_000_000]
    @Option(help: "Timed runs per size.") var runs = 9

    struct Result: Encodable {
        var files: Int
        var buildSeconds: Double
        var commitMilliseconds: [Double]
        var diffMilliseconds: [Double]
        var lookupMilliseconds: [Double]
        var commitMedian: Double
        var diffMedian: Double
        var lookupMedian: Double
    }

    func run() async throws {
        let logger = Logger(label: "vigil-bench") { _ in SwiftLogNoOpLogHandler() }
        try await Backends.with(home: URL(fileURLWithPath: home), create: true, logger: logger) { backends in
            let store = backends.store
            var pool: [BlobWrite] = []
            for index in 0..<1_000 { pool.append(try await store.blobs.put(Data("frame \(index)".utf8))) }
            var results: [Result] = []
            for size in sizes {
                let repo = "n\(size)"
                try await store.createRepo(repo)
                let buildStart = ContinuousClock.now
                let writer = try await store.openCommit(repo: repo)
                for index in 0..<size {
                    let blob = pool[index % pool.count]
                    try await writer.set(
                        "/valid/cam\(index % 50)-\(1_700_000_000 + index).jpg", to: .file(blob.hash, size: blob.size))
                }
                try await writer.finish(message: "\(size) files")
                let build = ContinuousClock.now - buildStart

                var commits: [Double] = []
                var diffs: [Double] = []
                var lookups: [Double] = []
                for run in 0..<runs {
                    let path = "/valid/new-\(run).jpg"
                    let commitStart = ContinuousClock.now
                    let one = try await store.openCommit(repo: repo)
                    try await one.put(path, data: Data("new frame \(run) of \(size)".utf8))
                    let commit = try await one.finish(message: "one more")
                    commits.append(milliseconds(ContinuousClock.now - commitStart))

                    let diffStart = ContinuousClock.now
                    let changes = try await store.diff(commit: Address(repo: repo, ref: commit.id))
                    diffs.append(milliseconds(ContinuousClock.now - diffStart))
                    guard changes.map(\.path) == [path] else {
                        throw ValidationError("diff found \(changes.count) changes, expected 1")
                    }

                    let lookupStart = ContinuousClock.now
                    _ = try await store.entry(at: Address(repo: repo, path: path))
                    lookups.append(milliseconds(ContinuousClock.now - lookupStart))
                }
                let result = Result(
                    files: size, buildSeconds: milliseconds(build) / 1000, commitMilliseconds: commits,
                    diffMilliseconds: diffs, lookupMilliseconds: lookups, commitMedian: median(commits),
                    diffMedian: median(diffs), lookupMedian: median(lookups))
                results.append(result)
                FileHandle.standardError.write(
                    Data(
                        String(
                            format: "%9d files: built in %.1f s; commit 1 file %.2f ms, diff %.2f ms, lookup %.2f ms\n",
                            size, result.buildSeconds, result.commitMedian, result.diffMedian, result.lookupMedian
                        ).utf8))
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(results), as: UTF8.self))
        }
    }
}
