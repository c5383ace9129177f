import Foundation
import Testing

@testable import VigilStore

/// Large commits apply their staged changes to a working tree as they go (bounded memory); the result must be
/// exactly what one big apply would have made, and concurrent writers must still lose nothing.
@Suite("Commit compaction")
struct CompactionTests {
    @Test func aCommitLargerThanTheThresholdEqualsOneBigApply() async throws {
        let store = try makeMemoryStore()
        try await store.createRepo("big")
        try await commitFiles(["/keep/a": "a", "/gone/b": "b"], to: "big", in: store)
        let count = CommitWriter.compactionThreshold * 2 + 100
        let writer = try await store.openCommit(repo: "big")
        var expected = ChangeSet()
        for index in 0..<count {
            let path = "/f\(index % 37)/frame-\(index)"
            let written = try await writer.put(path, data: Data("frame \(index)".utf8))
            try expected.stage(
                .set(.file(written.hash, size: written.size)), at: try StorePath.components(path)[...], fullPath: path)
            if index % 5_000 == 0 {
                try await writer.putMeta("/datums/\(index)", data: Data("\(index)".utf8))
            }
        }
        try await writer.delete("/gone")
        try expected.stage(.remove, at: ["gone"], fullPath: "/gone")
        #expect(await writer.compactions == 2)
        let commit = try await writer.finish()

        let parent = try #require(try await store.resolveCommit("big", ref: "master^1"))
        let reference = try await store.trees.apply(expected, to: parent.tree)
        #expect(commit.tree == reference)
        #expect(commit.tree.files == Int64(count + 1))
        #expect(try await store.listMeta(commit, "/datums").count == (count + 4_999) / 5_000)
        #expect(try await store.check().isClean)
    }

    @Test func changesWrittenEarlyMakeTheTreesOneApplyAtTheEndMakes() async throws {
        let store = try makeMemoryStore()
        try await store.createRepo("early")
        try await store.createRepo("late")
        let base = (0..<600).reduce(into: [String: String]()) { $0["/out/old-\($1)"] = "old \($1)" }
        try await commitFiles(base, to: "early", in: store)
        try await commitFiles(base, to: "late", in: store)
        let early = try await store.openCommit(repo: "early")
        let late = try await store.openCommit(repo: "late")
        for writer in [early, late] { try await writer.delete("/out/old-7") }
        // A few changes at a time, each batch written into the trees at once on one side only.
        for batch in 0..<6 {
            for index in (batch * 50)..<(batch * 50 + 50) {
                for writer in [early, late] {
                    try await writer.put("/out/new-\(index)", data: Data("new \(index)".utf8))
                    try await writer.putMeta("/datums/d\(index)", data: Data("entry \(index)".utf8))
                }
            }
            try await early.applyStaged()
            #expect(await early.stagedCount == 0)
        }
        try await early.applyStaged()
        let written = try await early.finish()
        let reference = try await late.finish()
        #expect(written.tree == reference.tree)
        #expect(written.meta == reference.meta)
        #expect(written.tree.files == 600 - 1 + 300)
        #expect(try await store.check().isClean)
    }

    @Test func aCompactedCommitReplaysOntoAHeadThatMoved() async throws {
        let store = try makeMemoryStore()
        try await store.createRepo("busy")
        try await commitFiles(["/base": "0"], to: "busy", in: store)
        let big = try await store.openCommit(repo: "busy")
        for index in 0..<(CommitWriter.compactionThreshold + 10) {
            try await big.put("/big/\(index)", data: Data("\(index)".utf8))
        }
        try await big.putMeta("/datums/big", data: Data("big"))
        #expect(await big.compactions == 1)
        // Meanwhile another writer commits.
        let other = try await store.openCommit(repo: "busy")
        try await other.put("/other", data: Data("other"))
        try await other.putMeta("/datums/other", data: Data("other"))
        try await other.finish()
        let commit = try await big.finish()

        #expect(commit.tree.files == Int64(CommitWriter.compactionThreshold + 10 + 2))
        #expect(try await store.read(Address(repo: "busy", path: "/other")) == Data("other".utf8))
        #expect(try await store.read(Address(repo: "busy", path: "/base")) == Data("0".utf8))
        #expect(try await store.listMeta(commit, "/datums").map(\.name) == ["big", "other"])
    }
}

@discardableResult
private func commitFiles(
    _ files: [String: String], to repo: String, in store: VersionedStore
) async throws
    -> CommitInfo
{
    let writer = try await store.openCommit(repo: repo)
    for (path, text) in files { try await writer.put(path, data: Data(text.utf8)) }
    return try await writer.finish()
}
