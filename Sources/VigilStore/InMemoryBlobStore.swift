import Foundation
import Synchronization

/// A `BlobStore` in memory: for tests and for throw-away pipelines. Not durable by definition.
public final class InMemoryBlobStore: BlobStore {
    private struct Stored {
        var data: Data
        var modified: Date
    }

    private let blobs = Mutex<[BlobHash: Stored]>([:])
    private let clock: @Sendable () -> Date

    public init(clock: @escaping @Sendable () -> Date = { Date() }) {
        self.clock = clock
    }

    public func put(_ data: Data) async throws -> BlobWrite {
        let hash = BlobHash(of: data)
        let now = clock()
        let stored = blobs.withLock { blobs in
            if blobs[hash] != nil {
                blobs[hash]!.modified = now
                return false
            }
            blobs[hash] = Stored(data: data, modified: now)
            return true
        }
        return BlobWrite(hash: hash, size: Int64(data.count), stored: stored)
    }

    public func get(_ hash: BlobHash) async throws -> Data {
        guard let data = blobs.withLock({ $0[hash]?.data }) else { throw Self.notFound(hash) }
        return try Self.verified(data, as: hash, at: "memory")
    }

    public func contains(_ hash: BlobHash) async throws -> Bool {
        blobs.withLock { $0[hash] != nil }
    }

    public func list() -> AsyncThrowingStream<BlobInfo, any Error> {
        let snapshot = blobs.withLock { blobs in
            blobs.map { BlobInfo(hash: $0.key, size: Int64($0.value.data.count), modified: $0.value.modified) }
        }
        return AsyncThrowingStream { continuation in
            for info in snapshot { continuation.yield(info) }
            continuation.finish()
        }
    }

    public func delete(_ hash: BlobHash, ifNotModifiedSince cutoff: Date) async throws -> Bool {
        blobs.withLock { blobs in
            guard let stored = blobs[hash], stored.modified < cutoff else { return false }
            blobs[hash] = nil
            return true
        }
    }

    public func flush() async throws {}

    /// Replaces a blob's bytes without changing its address: lets tests prove fsck notices corruption.
    public func corrupt(_ hash: BlobHash, with data: Data) {
        blobs.withLock { $0[hash]?.data = data }
    }
}
