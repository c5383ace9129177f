import Foundation
import Testing
import VigilStore

/// `VersionedStore.delete`: files and folders out of a branch in one commit, history untouched.
@Suite("Deleting files from a branch")
struct DeleteTests {
    static func filled() async throws -> (VersionedStore, CommitInfo) {
        let store = try makeMemoryStore()
        _ = try await store.createRepo("images")
        let writer = try await store.openCommit(repo: "images")
        for path in ["/a.jpg", "/cam7/1.jpg", "/cam7/2.jpg", "/cam8/1.jpg"] {
            try await writer.put(path, data: Data(path.utf8))
        }
        return (store, try await writer.finish())
    }

    @Test func filesAndFoldersGoInOneCommitAndHistoryKeepsThem() async throws {
        let (store, before) = try await Self.filled()
        let commit = try await store.delete(["/a.jpg", "/cam7"], from: "images", message: "camera 7 removed")
        #expect(commit.parent == before.id && commit.message == "camera 7 removed")
        #expect(try await snapshot(store, commit.tree).keys.sorted() == ["/cam8/1.jpg"])
        // The commit before still has everything, byte for byte.
        #expect(try await snapshot(store, before.tree).count == 4)
        #expect(
            try await store.read(Address(repo: "images", ref: before.id, path: "/cam7/2.jpg"))
                == Data("/cam7/2.jpg".utf8))
        #expect(try await store.diff(commit: Address(repo: "images", ref: commit.id)).count == 3)
    }

    @Test func aMissingPathChangesNothing() async throws {
        let (store, before) = try await Self.filled()
        let error = await #expect(throws: VigilError.self) {
            try await store.delete(["/a.jpg", "/nope.jpg"], from: "images")
        }
        #expect(error?.code == .pathNotFound && error?.value == "/nope.jpg")
        #expect(try await store.resolveCommit("images", ref: nil)?.id == before.id)
        // Nothing is left holding the branch: the next delete goes through.
        #expect(try await store.delete(["/a.jpg"], from: "images").parent == before.id)
    }

    @Test(arguments: [
        ([String](), nil as String?, VigilError.Code.badArgument, "at least one"),
        (["/"], nil, .badPath, "delete the repo"),
        (["/a.jpg"], "dev", .branchNotFound, "no branch 'dev'"),
        (["/a.jpg"], "master^", .badArgument, "commits never change"),
    ])
    func whatCannotBeDeletedSaysWhy(
        paths: [String], branch: String?, code: VigilError.Code, message: String
    ) async throws {
        let (store, _) = try await Self.filled()
        _ = try await store.delete(["/cam8"], from: "images")
        let error = await #expect(throws: VigilError.self) {
            try await store.delete(paths, from: "images", branch: branch)
        }
        #expect(error?.code == code, "\(error?.description ?? "")")
        #expect(error?.message.contains(message) == true, "\(error?.description ?? "")")
    }
}
