import Foundation
import Testing
import VigilStore

@Suite("Garbage collection")
struct GarbageCollectionTests {
    /// A store over in-memory blobs whose clock the test moves, with a repo `images`.
    private func makeClockedStore() async throws -> (TestClock, InMemoryBlobStore, VersionedStore) {
        let clock = TestClock()
        let blobs = InMemoryBlobStore(clock: { clock.date })
        let store = VersionedStore(
            blobs: blobs, metadata: try SQLiteMetadataStore(), logger: .test, clock: { clock.date })
        try await store.createRepo("images")
        return (clock, blobs, store)
    }

    @Test func gcDeletesOnlyWhatNoCommitReaches() async throws {
        let (clock, blobs, store) = try await makeClockedStore()
        try await store.createRepo("scratch")
        let keep = try await store.openCommit(repo: "images")
        for index in 0..<50 { try await keep.put("/k\(index)", data: Data("keep \(index)")) }
        try await keep.finish()
        let replaced = try await store.openCommit(repo: "images")
        try await replaced.put("/k0", data: Data("newer k0"))
        try await replaced.finish()
        let scratch = try await store.openCommit(repo: "scratch")
        for index in 0..<20 { try await scratch.put("/s\(index)", data: Data("scratch \(index)")) }
        try await scratch.finish()
        let abandoned = try await store.openCommit(repo: "images")
        let orphan = try await abandoned.put("/orphan", data: Data("never committed"))
        await abandoned.abandon()
        try await store.deleteRepo("scratch")

        clock.advance(3_600)
        let report = try await store.collectGarbage(grace: 60)
        // 20 scratch files + scratch's root node + the orphan; "keep 0" is still in the first commit of images.
        #expect(report.deleted == 22)
        #expect(try await !blobs.contains(orphan.hash))
        #expect(try await blobs.contains(BlobHash(of: Data("keep 0"))))
        let check = try await store.check()
        #expect(check.isClean)
        #expect(check.commits == 2)
        #expect(try await store.collectGarbage(grace: 60).deleted == 0)
    }

    @Test func gcKeepsWhatALiveWriterHasWrittenOrReused() async throws {
        let (clock, blobs, store) = try await makeClockedStore()
        // An unreachable blob from long ago, which a writer is about to reuse.
        let old = try await blobs.put(Data("old frame"))
        clock.advance(3_600)
        let writer = try await store.openCommit(repo: "images")
        let fresh = try await writer.put("/fresh.jpg", data: Data("fresh frame"))
        try await writer.put("/old.jpg", data: Data("old frame"))
        clock.advance(120)
        let during = try await store.collectGarbage(grace: 0)
        #expect(during.deleted == 0)
        #expect(try await blobs.contains(fresh.hash))
        #expect(try await blobs.contains(old.hash))
        let commit = try await writer.finish()
        #expect(try await snapshot(store, commit.tree).count == 2)
        #expect(try await store.check().isClean)
    }

    @Test func gcIgnoresTheLeaseOfAWriterThatDied() async throws {
        let (clock, blobs, store) = try await makeClockedStore()
        let dead = try await store.openCommit(repo: "images")
        let leftover = try await dead.put("/x", data: Data("left behind"))
        clock.advance(3_600)  // no heartbeat for an hour: the writer is gone
        let report = try await store.collectGarbage(grace: 60, leaseTimeout: 600)
        #expect(report.deleted == 1)
        #expect(try await !blobs.contains(leftover.hash))
    }

    /// Writers commit and reuse old bytes while gc runs again and again with no grace: no commit may lose a blob.
    @Test func gcRunningBesideWritersNeverDeletesAReachableBlob() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let store = try await VersionedStore.open(home: folder.url, create: true, logger: .test)
        try await store.createRepo("images")
        // Garbage whose bytes the writers will reuse: the case gc must not race.
        for index in 0..<40 { _ = try await store.blobs.put(Data("shared \(index)")) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writerIndex in 0..<3 {
                group.addTask {
                    for round in 0..<15 {
                        let writer = try await store.openCommit(repo: "images")
                        for file in 0..<10 {
                            let bytes =
                                file % 2 == 0 ? "shared \((round + file) % 40)" : "w\(writerIndex) r\(round) f\(file)"
                            try await writer.put("/w\(writerIndex)/r\(round)/f\(file)", data: Data(bytes))
                        }
                        try await writer.finish()
                    }
                }
            }
            group.addTask {
                for _ in 0..<25 { _ = try await store.collectGarbage(grace: 0) }
            }
            try await group.waitForAll()
        }
        let report = try await store.check()
        #expect(report.isClean, "\(report.problems.prefix(5))")
        #expect(report.commits == 45)
        let head = try #require(try await store.resolveCommit("images", ref: nil))
        #expect(head.tree.files == 450)
        // A last collection leaves exactly the reachable blobs, and all of them intact.
        // Every writer is done, so no clock slack is needed.
        let final = try await store.collectGarbage(grace: 0, clockSlack: 0)
        var remaining = 0
        for try await _ in store.blobs.list() { remaining += 1 }
        #expect(remaining == final.reachable)
        #expect(try await store.check().isClean)
    }
}
