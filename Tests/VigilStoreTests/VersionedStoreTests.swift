import Foundation
import Synchronization
import Testing
import VigilStore

/// A clock tests move by hand.
final class TestClock: Sendable {
    private let now = Mutex(Date(timeIntervalSince1970: 1_700_000_000))
    var date: Date { now.withLock { $0 } }
    func advance(_ seconds: TimeInterval) { now.withLock { $0 = $0.addingTimeInterval(seconds) } }
}

@Suite("Versioned store")
struct VersionedStoreTests {
    @Test func refsResolveBranchesAncestorsAndCommitPrefixes() async throws {
        let store = try makeMemoryStore()
        try await store.createRepo("images")
        #expect(try await store.resolveCommit("images", ref: nil) == nil)
        var commits: [CommitInfo] = []
        for index in 0..<4 {
            let writer = try await store.openCommit(repo: "images")
            try await writer.put("/cam1-\(index).jpg", data: Data("frame \(index)"))
            commits.append(try await writer.finish(message: "c\(index)"))
        }
        #expect(try await store.resolveCommit("images", ref: "master")?.id == commits[3].id)
        #expect(try await store.resolveCommit("images", ref: "master^")?.id == commits[2].id)
        #expect(try await store.resolveCommit("images", ref: "master^3")?.id == commits[0].id)
        #expect(try await store.resolveCommit("images", ref: "master^^^")?.id == commits[0].id)
        #expect(try await store.resolveCommit("images", ref: String(commits[1].id.prefix(12)))?.id == commits[1].id)
        #expect(try await store.resolveCommit("images", ref: commits[2].id + "^1")?.id == commits[1].id)
        #expect(try await store.log("images").map(\.id) == commits.reversed().map(\.id))
        #expect(try await store.log("images", ref: "master^1", limit: 2).map(\.id) == [commits[2].id, commits[1].id])

        for (ref, code) in [
            ("master^4", VigilError.Code.commitNotFound), ("dev", .branchNotFound), ("abcdef01", .commitNotFound),
        ] {
            let error = await #expect(throws: VigilError.self) { try await store.resolveCommit("images", ref: ref) }
            #expect(error?.code == code, "\(ref)")
        }
        let unknownRepo = await #expect(throws: VigilError.self) { try await store.resolveCommit("nope", ref: nil) }
        #expect(unknownRepo?.code == .repoNotFound)

        try await store.createBranch("review", in: "images", at: "master^2")
        #expect(try await store.resolveCommit("images", ref: "review")?.id == commits[1].id)
        let exists = await #expect(throws: VigilError.self) { try await store.createBranch("review", in: "images") }
        #expect(exists?.code == .branchExists)
        let onReview = try await store.openCommit(repo: "images", branch: "review")
        try await onReview.put("/only-on-review.jpg", data: Data("r"))
        try await onReview.finish()
        #expect(try await store.list(Address(repo: "images", ref: "review")).count == 3)
        #expect(try await store.list(Address(repo: "images")).count == 4)
    }

    @Test func writersReportMisuseClearly() async throws {
        let store = try makeMemoryStore()
        try await store.createRepo("images")
        let writer = try await store.openCommit(repo: "images")
        try await writer.put("/a", data: Data("file"))
        let underFile = await #expect(throws: VigilError.self) { try await writer.put("/a/b", data: Data("x")) }
        #expect(underFile?.code == .pathConflict)
        let missing = await #expect(throws: VigilError.self) { try await writer.delete("/nothing") }
        #expect(missing?.code == .pathNotFound)
        let root = await #expect(throws: VigilError.self) { try await writer.put("/", data: Data("x")) }
        #expect(root?.code == .badPath)
        try await writer.finish()
        let closed = await #expect(throws: VigilError.self) { try await writer.put("/b", data: Data("x")) }
        #expect(closed?.code == .commitClosed)
        let noBranch = await #expect(throws: VigilError.self) {
            try await store.openCommit(repo: "images", branch: "dev")
        }
        #expect(noBranch?.code == .branchNotFound)
        let directory = await #expect(throws: VigilError.self) {
            try await store.read(Address(repo: "images", path: "/"))
        }
        #expect(directory?.code == .notAFile)

        // Deleting a folder and then putting into it, in one commit, leaves only the new file there.
        let second = try await store.openCommit(repo: "images")
        try await second.put("/dir/x", data: Data("x"))
        try await second.put("/dir/y", data: Data("y"))
        try await second.finish()
        let third = try await store.openCommit(repo: "images")
        try await third.delete("/dir")
        try await third.put("/dir/z", data: Data("z"))
        let commit = try await third.finish()
        #expect(try await snapshot(store, commit.tree).keys.sorted() == ["/a", "/dir/z"])
    }

    @Test func abandonedCommitsLeaveTheBranchUntouched() async throws {
        let store = try makeMemoryStore()
        try await store.createRepo("images")
        let writer = try await store.openCommit(repo: "images")
        try await writer.put("/x.jpg", data: Data("x"))
        await writer.abandon()
        #expect(try await store.resolveCommit("images", ref: nil) == nil)
        #expect(try await store.metadata.leases().isEmpty)
    }

    @Test func eightConcurrentWritersLoseNoCommit() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let store = try await VersionedStore.open(home: folder.url, create: true, logger: .test)
        try await store.createRepo("images")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writerIndex in 0..<8 {
                group.addTask {
                    for commitIndex in 0..<10 {
                        let writer = try await store.openCommit(repo: "images", author: "writer\(writerIndex)")
                        try await writer.put(
                            "/w\(writerIndex)/c\(commitIndex).jpg", data: Data("\(writerIndex)-\(commitIndex)"))
                        try await writer.finish(message: "w\(writerIndex) c\(commitIndex)")
                    }
                }
            }
            try await group.waitForAll()
        }
        let log = try await store.log("images")
        #expect(log.count == 80)
        #expect(Set(log.map(\.message)).count == 80)
        let head = try #require(log.first)
        #expect(head.tree.files == 80)
        let files = try await snapshot(store, head.tree)
        for writerIndex in 0..<8 {
            for commitIndex in 0..<10 {
                #expect(
                    files["/w\(writerIndex)/c\(commitIndex).jpg"] == BlobHash(of: Data("\(writerIndex)-\(commitIndex)"))
                )
            }
        }
        #expect(try await store.check().isClean)
    }

    @Test func copyingARepoStoresAlmostNothing() async throws {
        let blobs = InMemoryBlobStore()
        let store = VersionedStore(blobs: blobs, metadata: try SQLiteMetadataStore(), logger: .test)
        try await store.createRepo("images")
        try await store.createRepo("backup")
        let writer = try await store.openCommit(repo: "images")
        for index in 0..<2_000 {
            try await writer.put(
                "/cam\(index % 7)/\(index).jpg", data: Data(repeating: UInt8(index % 256), count: 1_000 + index))
        }
        let source = try await writer.finish()

        func storedBytes() async throws -> Int64 {
            var total: Int64 = 0
            for try await blob in blobs.list() { total += blob.size }
            return total
        }
        let before = try await storedBytes()
        let whole = try await store.copy(from: Address(repo: "images"), to: Address(repo: "backup"))
        let folder = try await store.copy(
            from: Address(repo: "images", path: "/cam3"), to: Address(repo: "backup", path: "/archive/cam3"))
        let extra = try await storedBytes() - before
        #expect(extra < before / 100, "copy stored \(extra) bytes of \(before)")
        #expect(whole.tree.files == 2_000)
        #expect(folder.tree.files == 2_000 + (0..<2_000).filter { $0 % 7 == 3 }.count)
        #expect(try await store.read(Address(repo: "backup", path: "/cam1/8.jpg")) == Data(repeating: 8, count: 1_008))
        #expect(
            try await store.read(Address(repo: "backup", path: "/archive/cam3/3.jpg"))
                == Data(repeating: 3, count: 1_003))
        #expect(whole.provenance.inputs == [source.reference])
    }

    @Test func provenanceAndSubvenanceFollowTheChain() async throws {
        let store = try makeMemoryStore()
        var previous: CommitInfo?
        var chain: [CommitInfo] = []
        for repo in ["images", "validate", "detect", "threats"] {
            try await store.createRepo(repo)
            let writer = try await store.openCommit(repo: repo)
            try await writer.put("/out.json", data: Data(repo))
            let inputs = previous.map { [$0.reference] } ?? []
            let commit = try await writer.finish(provenance: Provenance(inputs: inputs, origin: "pipeline:\(repo)"))
            chain.append(commit)
            previous = commit
        }
        #expect(try await store.provenance(of: chain[3].reference) == [chain[2].reference])
        #expect(
            try await store.provenance(of: chain[3].reference, transitive: true)
                == [chain[2], chain[1], chain[0]].map(\.reference))
        #expect(try await store.subvenance(of: chain[0].reference) == [chain[1].reference])
        #expect(
            try await store.subvenance(of: chain[0].reference, transitive: true)
                == [chain[1], chain[2], chain[3]].map(\.reference))
        #expect(chain[3].provenance.origin == "pipeline:threats")
    }

    @Test func fsckFindsCorruptAndMissingBlobs() async throws {
        let blobs = InMemoryBlobStore()
        let store = VersionedStore(blobs: blobs, metadata: try SQLiteMetadataStore(), logger: .test)
        try await store.createRepo("images")
        let writer = try await store.openCommit(repo: "images")
        let good = try await writer.put("/good.jpg", data: Data("good"))
        let bad = try await writer.put("/sub/bad.jpg", data: Data("bad"))
        let commit = try await writer.finish()
        let clean = try await store.check()
        #expect(clean.isClean)
        #expect(clean.files == 2)
        #expect(clean.commits == 1)

        blobs.corrupt(bad.hash, with: Data("tampered"))
        let subdirectory = try #require(try await store.trees.lookup("/sub", in: commit.tree))
        _ = try await blobs.delete(good.hash, ifNotModifiedSince: .distantFuture)
        let report = try await store.check()
        #expect(Set(report.problems.map(\.kind)) == [.corruptBlob, .missingBlob])
        #expect(report.problems.contains { $0.kind == .corruptBlob && $0.path == "/sub/bad.jpg" })
        #expect(report.problems.contains { $0.kind == .missingBlob && $0.subject == good.hash.hex })

        _ = try await blobs.delete(subdirectory.hash, ifNotModifiedSince: .distantFuture)
        #expect(
            try await store.check().problems.contains { $0.kind == .missingBlob && $0.subject == subdirectory.hash.hex }
        )
    }
}
