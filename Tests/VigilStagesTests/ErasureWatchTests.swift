import Foundation
import Logging
import Synchronization
import Testing
import VigilStages
import VigilStore
import VigilVision

/// A long-running process drops the decoded frames it holds when any process records an erasure, and only then.
@Suite("Decoded frames dropped on an erasure")
struct ErasureWatchTests {
    @Test func anotherProcesssErasureDropsTheDecodedFramesAndOtherWritesDoNot() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-watch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("metadata.sqlite").path
        // This process's view and another process's, on one database file.
        let mine = try SQLiteMetadataStore(path: path)
        let other = try SQLiteMetadataStore(path: path)
        let cache = DecodedImageCache(byteLimit: 1 << 20)
        cache.insert(
            DecodedImageCacheTests.image(64, 48, fill: 3), header: DecodedImageCacheTests.header, scale: 8,
            for: "frontdoor frame")
        // A block a frame was decoded into, kept for the next frame, and one still in use.
        let pool = PixelBuffer.Pool(limitBytes: 1 << 20)
        var inUse: PixelBuffer? = PixelBuffer(count: 32 * 24 * 3, pool: pool) { $0.initialize(repeating: 4) }
        _ = PixelBuffer(count: 64 * 48 * 3, pool: pool) { $0.initialize(repeating: 3) }
        #expect(pool.current.keptBytes == 64 * 48 * 3)
        var feed = FolderChangeFeed(folder: folder, files: ["metadata.sqlite-wal"])
        feed.interval = .milliseconds(50)
        let watch = ErasureWatch(
            log: mine, changes: feed, cache: cache, pool: pool,
            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await watch.run() }
            try await Task.sleep(for: .milliseconds(300))
            // A write that is no erasure: the frames stay.
            try await other.createRepo(RepoInfo(name: "images", created: Date()), defaultBranch: "master")
            try await Task.sleep(for: .seconds(1))
            #expect(cache.statistics.images == 1)
            #expect(pool.current.keptBytes == 64 * 48 * 3)
            try await other.recordErasure(
                ErasureInfo(
                    id: "e1", time: Date(), requester: "ops (operator)", reason: "camera faced a neighbour",
                    selection: "--device frontdoor"),
                entries: [
                    ErasedEntry(repo: "images", path: "/frontdoor-1.jpg", hash: BlobHash(of: Data("x".utf8)), size: 1)
                ])
            for _ in 0..<2_000 where cache.statistics.images > 0 { try await Task.sleep(for: .milliseconds(10)) }
            #expect(cache.statistics.images == 0)
            #expect(pool.current.keptBytes == 0, "the kept block held an earlier frame's pixels")
            // Taken before the erasure: let go when its frame is done, not kept.
            #expect(inUse?.count == 32 * 24 * 3)
            inUse = nil
            #expect(pool.current.keptBytes == 0)
            group.cancelAll()
        }
    }

    /// Whether `run` returned, shared with the test.
    final class Returned: Sendable {
        let value = Mutex(false)
    }

    /// A feed that ends at once (no inotify here, a watch the kernel refused).
    struct EndedFeed: ChangeFeed {
        func watch(_ onChange: @escaping @Sendable (Change) -> Void) async {}
    }

    /// With no feed the watch reads the count now and then, and keeps running: a service that returned would
    /// stop the whole server.
    @Test func withoutAFeedTheCountIsReadNowAndThenAndTheWatchKeepsRunning() async throws {
        let store = try SQLiteMetadataStore()
        let cache = DecodedImageCache(byteLimit: 1 << 20)
        cache.insert(
            DecodedImageCacheTests.image(64, 48, fill: 3), header: DecodedImageCacheTests.header, scale: 8, for: "f")
        let watch = ErasureWatch(
            log: store, changes: EndedFeed(), cache: cache,
            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }, pollInterval: .milliseconds(50))
        let returned = Returned()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await watch.run()
                returned.value.withLock { $0 = true }
            }
            try await Task.sleep(for: .milliseconds(500))
            #expect(cache.statistics.images == 1)
            try await store.recordErasure(
                ErasureInfo(id: "e1", time: Date(), requester: "ops", reason: "left", selection: "--device cam"),
                entries: [])
            for _ in 0..<500 where cache.statistics.images > 0 { try await Task.sleep(for: .milliseconds(10)) }
            #expect(cache.statistics.images == 0)
            #expect(!returned.value.withLock { $0 })
            group.cancelAll()
        }
    }

    /// A frame decoded while an erasure dropped the cache is not kept: it may be the erased one.
    @Test func aFrameDecodedAcrossADropIsNotKept() {
        let cache = DecodedImageCache(byteLimit: 1 << 20)
        let generation = cache.generation
        cache.removeAll()
        cache.insert(
            DecodedImageCacheTests.image(8, 8, fill: 1), header: DecodedImageCacheTests.header, scale: 8, for: "f",
            generation: generation)
        #expect(cache.statistics.images == 0)
        cache.insert(
            DecodedImageCacheTests.image(8, 8, fill: 1), header: DecodedImageCacheTests.header, scale: 8, for: "f",
            generation: cache.generation)
        #expect(cache.statistics.images == 1)
    }
}
