import Foundation
import Testing
import VigilStore

/// The hidden meta tree a commit may carry: published with the data, invisible to users' views of the data.
@Suite("Commit meta trees")
struct MetaTreeTests {
    @Test func metaIsPublishedWithTheCommitCarriedForwardAndHiddenFromTheData() async throws {
        let blobs = InMemoryBlobStore()
        let store = VersionedStore(blobs: blobs, metadata: try SQLiteMetadataStore(), logger: .test)
        try await store.createRepo("detect")
        let first = try await store.openCommit(repo: "detect")
        try await first.put("/cam1/a.json", data: Data("detections"))
        try await first.putMeta("/datums/d1", data: Data("{\"outputs\":[\"/cam1/a.json\"]}"))
        let one = try await first.finish()
        #expect(one.meta?.files == 1)
        #expect(one.tree.files == 1)
        #expect(try await store.list(Address(repo: "detect")).map(\.name) == ["cam1"])
        #expect(try await store.readMeta(one, "/datums/d1") == Data("{\"outputs\":[\"/cam1/a.json\"]}"))

        // A commit that does not touch the meta tree keeps it; one that does, changes only what it touches.
        let second = try await store.openCommit(repo: "detect")
        try await second.put("/cam2/b.json", data: Data("more"))
        let two = try await second.finish()
        #expect(two.meta == one.meta)
        #expect(try await store.diff(commit: Address(repo: "detect")).map(\.path) == ["/cam2/b.json"])
        let third = try await store.openCommit(repo: "detect")
        try await third.putMeta("/datums/d2", data: Data("two"))
        try await third.deleteMeta("/datums/d1")
        try await third.deleteMeta("/datums/never-there")
        let three = try await third.finish()
        #expect(try await store.listMeta(three, "/datums").map(\.name) == ["d2"])
        #expect(try await store.diff(commit: Address(repo: "detect")).isEmpty)

        // Deleting the last meta file leaves no meta tree.
        let fourth = try await store.openCommit(repo: "detect")
        try await fourth.deleteMeta("/")
        #expect(try await fourth.finish().meta == nil)

        // gc keeps what any commit's meta tree reaches; fsck verifies it and notices damage.
        #expect(try await store.collectGarbage(grace: 0, clockSlack: 0).deleted == 0)
        #expect(try await store.check().isClean)
        blobs.corrupt(BlobHash(of: Data("two")), with: Data("tampered"))
        #expect(try await store.check().problems.contains { $0.kind == .corruptBlob && $0.path == "(meta)/datums/d2" })
    }

    @Test func concurrentWritersKeepEachOthersMeta() async throws {
        let store = try makeMemoryStore()
        try await store.createRepo("out")
        try await withThrowingTaskGroup(of: Void.self) { group in
            for writerIndex in 0..<4 {
                group.addTask {
                    for round in 0..<5 {
                        let writer = try await store.openCommit(repo: "out")
                        try await writer.put("/w\(writerIndex)/r\(round)", data: Data("data"))
                        try await writer.putMeta("/datums/w\(writerIndex)-r\(round)", data: Data("m\(writerIndex)"))
                        try await writer.finish()
                    }
                }
            }
            try await group.waitForAll()
        }
        let head = try #require(try await store.resolveCommit("out", ref: nil))
        #expect(try await store.listMeta(head, "/datums").count == 20)
        #expect(head.tree.files == 20)
    }
}
