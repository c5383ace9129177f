import ArgumentParser
import Foundation
import Logging
import VigilStore

/// PUT then GET of `count` blobs of `size` bytes through `S3BlobStore`, `concurrency` in flight, every blob
/// checked against its address on the way back. `bench/s3_bench.py` runs it beside boto3 doing the same against
/// the same server, and prints both and the ratio.
///
/// The blobs are made in the timed loop the same way the Python side makes them: one random 50 KB block with
/// the run's seed and the blob's index written over its first 16 bytes (a copy of 50 KB; microseconds against a
/// request's millisecond), so every blob is new to the server and no side pays for generating more than the other.
struct S3Benchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "s3", abstract: "Time PUT and GET of many blobs through S3BlobStore (JSON on stdout).")

    @Option(help: "The S3 endpoint, e.g. http://127.0.0.1:8333.") var endpoint: String
    @Option(help: "An existing bucket.") var bucket: String
    @Option(help: "Key prefix for this run (blobs go under <prefix>/blobs/).") var prefix: String
    @Option(help: "Blobs.") var count = 10_000
    @Option(help: "Bytes per blob.") var size = 50_000
    @Option(help: "Requests in flight.") var concurrency = 8
    @Option(help: "Makes this run's blobs distinct from every other run's.") var seed: UInt64 = 1

    struct Result: Encodable {
        var count: Int
        var size: Int
        var concurrency: Int
        var putSeconds: Double
        var getSeconds: Double
        var failed: Int
        var corrupted: Int
    }

    func run() async throws {
        let logger = Logger(label: "vigil-bench") { _ in SwiftLogNoOpLogHandler() }
        var configuration = try S3Configuration(
            endpoint: URL(string: endpoint)!, bucket: bucket, prefix: prefix,
            credentials: try S3Credentials.resolve())
        configuration.maxConnections = max(64, concurrency)
        let store = S3BlobStore(configuration: configuration, logger: logger)
        try await store.verifyAccess()
        var generator = SplitMix(seed: seed)
        let base = Data((0..<size).map { _ in UInt8(truncatingIfNeeded: generator.next()) })

        @Sendable func blob(_ index: Int) -> Data {
            var data = base
            data.withUnsafeMutableBytes { buffer in
                buffer.storeBytes(of: seed.bigEndian, toByteOffset: 0, as: UInt64.self)
                buffer.storeBytes(of: UInt64(index).bigEndian, toByteOffset: 8, as: UInt64.self)
            }
            return data
        }

        var hashes = [BlobHash?](repeating: nil, count: count)
        var failed = 0
        let putStart = ContinuousClock.now
        try await forEach(count) { index -> (Int, BlobHash?) in
            do {
                let written = try await store.put(blob(index))
                return (index, written.hash)
            } catch {
                logger.error("put failed: \(error)")
                return (index, nil)
            }
        } collect: { result in
            hashes[result.0] = result.1
            if result.1 == nil { failed += 1 }
        }
        let putSeconds = (ContinuousClock.now - putStart).inSeconds

        var corrupted = 0
        let stored = hashes
        let getStart = ContinuousClock.now
        try await forEach(count) { index -> (Int, Bool?) in
            guard let hash = stored[index] else { return (index, nil) }
            do {
                return (index, BlobHash(of: try await store.get(hash)) == hash)
            } catch {
                return (index, nil)
            }
        } collect: { result in
            switch result.1 {
            case nil: failed += 1
            case false?: corrupted += 1
            case true?: break
            }
        }
        let getSeconds = (ContinuousClock.now - getStart).inSeconds
        let result = Result(
            count: count, size: size, concurrency: concurrency, putSeconds: putSeconds, getSeconds: getSeconds,
            failed: failed, corrupted: corrupted)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        print(String(decoding: try encoder.encode(result), as: UTF8.self))
    }

    /// Runs `work` for 0..<count with `concurrency` in flight, handing each result to `collect` in order of
    /// completion.
    private func forEach<T: Sendable>(
        _ count: Int, _ work: @escaping @Sendable (Int) async -> T, collect: (T) -> Void
    ) async throws {
        await withTaskGroup(of: T.self) { group in
            var next = 0
            while next < min(concurrency, count) {
                let index = next
                group.addTask { await work(index) }
                next += 1
            }
            while let result = await group.next() {
                collect(result)
                if next < count {
                    let index = next
                    group.addTask { await work(index) }
                    next += 1
                }
            }
        }
    }
}

/// A small seeded generator for the run's random block (the Python side uses its own; only distinctness matters).
private struct SplitMix {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var value = state
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        return value ^ (value >> 31)
    }
}
