import Foundation
import Synchronization
import Testing

@testable import VigilStore

/// Uploads that arrive together share commits; each caller still gets a published commit holding exactly its
/// own bytes, and nothing one caller does costs another its file.
@Suite("Group commit")
struct GroupCommitTests {
    /// The files of `count` callers put at once, each returning its commit and the index it put.
    private static func putAtOnce(
        _ count: Int, into group: GroupCommit, folder: TemporaryFolder, path: @escaping @Sendable (Int) -> String
    ) async throws -> [(index: Int, commit: CommitInfo, written: BlobWrite)] {
        try await withThrowingTaskGroup(of: (Int, CommitInfo, BlobWrite).self) { tasks in
            for index in 0..<count {
                tasks.addTask {
                    let file = folder.url.appendingPathComponent("upload-\(index)")
                    try Data("frame \(index)").write(to: file)
                    let (commit, written) = try await group.put(
                        path(index), contentsOf: file, author: "device:cam\(index % 4)")
                    return (index, commit, written)
                }
            }
            return try await tasks.reduce(into: []) { $0.append($1) }
        }
    }

    /// A memory store with an `images` repo and its group commit, and a folder for the files put (removed after).
    private static func withImages(
        _ body: (TemporaryFolder, VersionedStore, GroupCommit) async throws -> Void
    ) async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let store = try makeMemoryStore()
        try await store.createRepo("images")
        try await body(folder, store, GroupCommit(store: store, repo: "images"))
    }

    @Test func filesPutAtOnceShareCommitsAndEachCallerGetsOneHoldingItsFile() async throws {
        try await Self.withImages { folder, store, group in
            let count = 48
            let results = try await Self.putAtOnce(count, into: group, folder: folder) { "/cam\($0 % 4)-\($0).jpg" }

            #expect(results.count == count)
            for (index, commit, written) in results {
                let data = try await store.read(
                    Address(repo: "images", ref: commit.id, path: "/cam\(index % 4)-\(index).jpg"))
                #expect(data == Data("frame \(index)"))
                #expect(written.hash == BlobHash(of: data))
            }
            let log = try await store.log("images")
            // The first caller's commit starts at once; the others arrive while it is being made and share the next.
            #expect(log.count < count)
            #expect(Set(results.map(\.commit.id)) == Set(log.map(\.id)))
            #expect(log.first?.tree.files == Int64(count))
            for commit in log {
                let senders = Set(results.filter { $0.commit.id == commit.id }.map { "device:cam\($0.index % 4)" })
                #expect(Set(commit.author.components(separatedBy: ", ")) == senders)
                let files = results.filter { $0.commit.id == commit.id }.count
                #expect(
                    files == 1
                        ? commit.message.hasPrefix("upload cam") : commit.message.hasPrefix("upload \(files) files: "))
            }
            #expect(try await store.metadata.leases().isEmpty)
            #expect(try await store.check().isClean)
        }
    }

    /// The commits each path's caller was told of.
    final class Told: Sendable {
        let ids = Mutex<[String: [String]]>([:])
    }

    /// The upload route starts a frame's detection from this, without waiting for its own task to run again.
    @Test func eachCallerIsToldItsCommitOnceDurableBeforeItsPutReturnsAndAFailedPutIsNot() async throws {
        try await Self.withImages { folder, store, group in
            let told = Told()
            let results = try await withThrowingTaskGroup(of: (String, CommitInfo?, Bool).self) { tasks in
                for index in 0..<12 {
                    tasks.addTask {
                        let path = "/cam0-\(index).jpg"
                        // Every third caller's file is missing: its put fails.
                        let file = folder.url.appendingPathComponent("upload-\(index)")
                        if index % 3 != 2 { try Data("frame \(index)").write(to: file) }
                        let put = try? await group.put(path, contentsOf: file, author: "device:cam0") { commit in
                            told.ids.withLock { $0[path, default: []].append(commit.id) }
                        }
                        let toldBeforeReturning = told.ids.withLock { $0[path] != nil }
                        return (path, put?.0, toldBeforeReturning)
                    }
                }
                return try await tasks.reduce(into: []) { $0.append($1) }
            }
            #expect(results.count == 12)
            for (path, commit, toldBeforeReturning) in results {
                if let commit {
                    #expect(told.ids.withLock { $0[path] } == [commit.id], "told once, of the commit it returns")
                    #expect(toldBeforeReturning)
                    let data = try await store.read(Address(repo: "images", ref: commit.id, path: path))
                    #expect(data.count > 0)
                } else {
                    #expect(told.ids.withLock { $0[path] } == nil, "a failed put is not told of anyone's commit")
                }
            }
            #expect(results.count { $0.1 == nil } == 4)
        }
    }

    @Test func aPathPutTwiceAtOnceLandsInTwoCommitsEachHoldingItsOwnBytes() async throws {
        try await Self.withImages { folder, store, group in
            let results = try await Self.putAtOnce(6, into: group, folder: folder) { "/cam0-\($0 % 2).jpg" }

            for (index, commit, _) in results {
                let data = try await store.read(Address(repo: "images", ref: commit.id, path: "/cam0-\(index % 2).jpg"))
                #expect(data == Data("frame \(index)"))
            }
            // Three puts of each path: no commit holds two of them, so there are at least three commits.
            #expect(Set(results.map(\.commit.id)).count >= 3)
            let head = try #require(try await store.resolveCommit("images", ref: nil))
            #expect(head.tree.files == 2)
        }
    }

    @Test func aFailedPutFailsOnlyItselfAndLeavesNoOpenCommitBehind() async throws {
        try await Self.withImages { folder, store, group in
            let missing = folder.url.appendingPathComponent("never-written")
            await #expect(throws: (any Error).self) {
                try await group.put("/alone.jpg", contentsOf: missing, author: "device:cam0")
            }
            #expect(try await store.metadata.leases().isEmpty)
            #expect(try await store.resolveCommit("images", ref: nil) == nil)

            let outcomes = try await withThrowingTaskGroup(of: Bool.self) { tasks in
                for index in 0..<12 {
                    tasks.addTask {
                        let file = index == 5 ? missing : folder.url.appendingPathComponent("upload-\(index)")
                        if index != 5 { try Data("frame \(index)").write(to: file) }
                        do {
                            _ = try await group.put("/cam0-\(index).jpg", contentsOf: file, author: "device:cam0")
                            return true
                        } catch {
                            return false
                        }
                    }
                }
                return try await tasks.reduce(into: []) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 }.count == 11)
            let head = try #require(try await store.resolveCommit("images", ref: nil))
            #expect(head.tree.files == 11)
            #expect(try await store.metadata.leases().isEmpty)
            #expect(try await store.check().isClean)
        }
    }

    @Test func messagesAndAuthorsNameTheFilesAndEverySenderOnce() {
        #expect(GroupCommit.message(["/a.jpg"]) == "upload a.jpg")
        #expect(GroupCommit.message(["/a.jpg", "/b.jpg"]) == "upload 2 files: a.jpg, b.jpg")
        #expect(GroupCommit.message((0..<12).map { "/\($0).jpg" }).hasSuffix("9.jpg, …"))
        #expect(GroupCommit.author(["device:a", "device:b", "device:a"]) == "device:a, device:b")
        #expect(GroupCommit.author((0..<13).map { "device:\($0)" }).hasSuffix("device:9 and 3 more"))
    }
}
