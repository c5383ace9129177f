import Foundation
import Synchronization
import VigilStore
import VigilVision

/// The dashboard's previews, made once per image: a dashboard view asks for twenty, and each is a decode of a
/// full photo. They are made one at a time on a thread of their own (never on Swift's few cooperative
/// threads, and never more than one core however many are asked for), from images bounded in pixels by the
/// decoder, and the last `capacity` are kept (a few KB each). Past `maximumWaiting` waiting requests, more
/// are told the server is busy rather than queued without bound.
public final class ThumbnailCache: Sendable {
    public struct Statistics: Sendable, Equatable {
        public var hits = 0
        public var made = 0
        public var refused = 0

        public init(hits: Int = 0, made: Int = 0, refused: Int = 0) {
            self.hits = hits
            self.made = made
            self.refused = refused
        }
    }

    private struct State {
        var entries: [BlobHash: (jpeg: Data, used: UInt64)] = [:]
        var clock: UInt64 = 0
        var statistics = Statistics()
    }

    public let capacity: Int
    public let maximumWaiting: Int
    /// The decoder's bound: an image whose header claims more pixels is refused before any is decoded.
    public let maximumPixels: Int
    private let state = Mutex(State())
    private let waiting = Atomic<Int>(0)
    private let thread = WorkerThread(name: "vigil-thumbnail")

    public init(capacity: Int = 2_048, maximumWaiting: Int = 64, maximumPixels: Int = 50_000_000) {
        self.capacity = capacity
        self.maximumWaiting = maximumWaiting
        self.maximumPixels = maximumPixels
    }

    public var statistics: Statistics { state.withLock { $0.statistics } }

    /// Forgets the previews of `hashes` (an erasure took their images): small copies of the pictures are pictures.
    public func forget(_ hashes: some Sequence<BlobHash>) {
        state.withLock { state in
            for hash in hashes { state.entries[hash] = nil }
        }
    }

    /// The thumbnail of the image `hash`, read by `read` when not kept. nil when the server is too busy.
    public func jpeg(of hash: BlobHash, read: () async throws -> Data) async throws -> Data? {
        if let kept = state.withLock({ state -> Data? in
            guard let entry = state.entries[hash] else { return nil }
            state.clock += 1
            state.entries[hash]?.used = state.clock
            state.statistics.hits += 1
            return entry.jpeg
        }) {
            return kept
        }
        guard waiting.add(1, ordering: .relaxed).newValue <= maximumWaiting else {
            waiting.subtract(1, ordering: .relaxed)
            state.withLock { $0.statistics.refused += 1 }
            return nil
        }
        defer { waiting.subtract(1, ordering: .relaxed) }
        let data = try await read()
        let bound = maximumPixels
        let jpeg = try await thread.run { try Thumbnail.jpeg(of: data, maximumPixels: bound) }
        state.withLock { state in
            state.clock += 1
            state.entries[hash] = (jpeg, state.clock)
            state.statistics.made += 1
            if state.entries.count > capacity {
                // Forget the least recently used quarter at once: one sort per many insertions.
                let stale = state.entries.sorted { $0.value.used < $1.value.used }.prefix(max(1, capacity / 4))
                for (key, _) in stale { state.entries[key] = nil }
            }
        }
        return jpeg
    }
}
