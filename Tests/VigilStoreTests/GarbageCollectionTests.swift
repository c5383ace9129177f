import Foundation
import ServiceLifecycle
import Testing

@testable import VigilStore

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

    /// A writer that joins a lease another commit took (`SharedWriterLeases`, as a service shares them) is
    /// protected by it like by its own: a slow writer's blob outlives a gc run while the lease lives, and the
    /// commit is stamped with its own start, not the lease's.
    @Test func aWriterThatJoinedASharedLeaseKeepsGcOffItsBlobs() async throws {
        let (clock, blobs, store) = try await makeClockedStore()
        store.sharedLeases.enable()
        let first = try await store.openCommit(repo: "images")
        try await first.put("/a", data: Data("a"))
        try await first.finish()
        let lease = try #require(try await store.metadata.leases().first, "kept a moment for the next writer")
        clock.advance(5)
        let opened = clock.date
        let second = try await store.openCommit(repo: "images")
        #expect(store.sharedLeases.joins == 1)
        #expect(try await store.metadata.leases() == [lease], "no lease of its own was written")
        let pending = try await second.put("/b", data: Data("b, not committed yet"))
        clock.advance(120)
        let report = try await store.collectGarbage(grace: 60)
        #expect(report.cutoff < lease.started)
        #expect(try await blobs.contains(pending.hash), "the shared lease keeps gc off the joined writer's blob")
        let commit = try await second.finish()
        #expect(commit.started == opened)
        #expect(try await store.metadata.leases() == [lease], "the newest lease waits for the next writer")
        #expect(store.sharedLeases.sweep(now: clock.date) == [lease.id], "until idle for a moment")
        try await store.metadata.releaseLease(lease.id)
        #expect(try await store.trees.lookup("/b", in: commit.tree)?.hash == pending.hash)
        #expect(commit.tree.files == 2)
    }

    /// Writers commit and reuse old bytes while gc runs again and again with no grace: no commit may lose a blob.
    /// Run with each writer's own lease, and with leases shared as a service shares them (`WriterLeaseKeeper`).
    @Test(arguments: [false, true])
    func gcRunningBesideWritersNeverDeletesAReachableBlob(sharingLeases: Bool) async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let store = try await VersionedStore.open(home: folder.url, create: true, logger: .test)
        try await store.createRepo("images")
        // Garbage whose bytes the writers will reuse: the case gc must not race.
        for index in 0..<40 { _ = try await store.blobs.put(Data("shared \(index)")) }
        // The keeper as a service runs it, stopped gracefully: it releases the leases nobody holds.
        let services = ServiceGroup(
            configuration: .init(
                services: sharingLeases ? [.init(service: WriterLeaseKeeper(store: store, logger: .test))] : [],
                logger: .test))
        try await withThrowingTaskGroup(of: Void.self) { keeper in
            keeper.addTask { try await services.run() }
            while sharingLeases, !store.sharedLeases.isEnabled { try await Task.sleep(for: .milliseconds(1)) }
            try await writeBesideCollections(store)
            await services.triggerGracefulShutdown()
        }
        #expect((store.sharedLeases.joins > 0) == sharingLeases, "\(store.sharedLeases.joins) writers joined a lease")
        let left = try await store.metadata.leases()
        let shared = store.sharedLeases.summary
        #expect(left.isEmpty, "every lease is released when the writers are done: \(left), \(shared)")
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

    /// Three writers of 15 commits each, while gc runs 25 times with no grace.
    private func writeBesideCollections(_ store: VersionedStore) async throws {
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
    }
}
