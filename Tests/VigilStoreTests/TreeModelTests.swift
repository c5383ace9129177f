import Foundation
import Testing
import VigilStore

/// The tree checked against a plain dictionary: random puts and deletes (of files and whole folders), with
/// folders big enough to cross the 256-entry sharding threshold in both directions.
@Suite("Merkle tree against a dictionary model")
struct TreeModelTests {
    static let folders = ["", "/a", "/a/b", "/c"]

    /// A name in `folder`: plain names at the root; camera frames elsewhere, from three cameras in `/a`, one in
    /// `/a/b` (a large folder of one device bucket, whose top node is not stored), and one in `/c` with four
    /// frames of another that come and go (so its top node comes and goes).
    static func name(_ number: Int, in folder: String) -> String {
        switch folder {
        case "/a": "cam\(number % 3)-\(number).jpg"
        case "/a/b": "cam7-\(number).jpg"
        case "/c": number % 25 == 0 ? "porch.east-\(number % 100).jpg" : "cam7-\(number).jpg"
        default: "f\(number)"
        }
    }

    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func randomEditSequencesMatchTheModel(seed: UInt64) async throws {
        var random = SeededGenerator(seed: seed)
        let store = try makeMemoryStore()
        try await store.createRepo("model")
        try await store.createRepo("rebuilt")
        var model: [String: BlobHash] = [:]
        var previous: CommitInfo?
        let contents = (0..<40).map { Data("content \($0)") }

        for step in 0..<24 {
            let before = model
            let writer = try await store.openCommit(repo: "model")
            for _ in 0..<Int.random(in: 1...400, using: &random) {
                let roll = Int.random(in: 0..<100, using: &random)
                // Puts outweigh deletes in the first half and deletes in the second, so that folders grow past
                // the sharding threshold and shrink below it again.
                if roll < (step < 12 ? 85 : 30) || model.isEmpty {
                    let folder = Self.folders.randomElement(using: &random)!
                    let path = "\(folder)/" + Self.name(Int.random(in: 0..<700, using: &random), in: folder)
                    let data = contents.randomElement(using: &random)!
                    try await writer.put(path, data: data)
                    model[path] = BlobHash(of: data)
                } else if roll < 97 {
                    let path = model.keys.sorted().randomElement(using: &random)!
                    try await writer.delete(path)
                    model[path] = nil
                } else if Int.random(in: 0..<40, using: &random) == 0 {
                    // Now and then a whole folder goes (more often, and no folder would ever grow large).
                    let folder = Self.folders.dropFirst().randomElement(using: &random)!
                    guard model.keys.contains(where: { $0.hasPrefix(folder + "/") }) else { continue }
                    try await writer.delete(folder)
                    model = model.filter { !$0.key.hasPrefix(folder + "/") }
                }
            }
            let commit = try await writer.finish(message: "step \(step)")

            #expect(try await snapshot(store, commit.tree) == model, "seed \(seed) step \(step)")
            #expect(commit.tree.files == Int64(model.count))
            let expectedSize = try await model.values.asyncReduce(0) { $0 + Int64(try await store.blobs.get($1).count) }
            #expect(commit.tree.size == expectedSize)

            // Diff against the previous commit reports exactly the model's changes.
            let diff = try await store.diff(
                from: Address(repo: "model", ref: previous?.id ?? commit.id), to: Address(repo: "model", ref: commit.id)
            )
            var expected: [String: DiffEntry.Change] = [:]
            for path in Set(before.keys).union(model.keys) {
                switch (before[path], model[path]) {
                case (nil, _?): expected[path] = .added
                case (_?, nil): expected[path] = .removed
                case (let old?, let new?) where old != new: expected[path] = .modified
                default: break
                }
            }
            if previous != nil {
                #expect(Dictionary(uniqueKeysWithValues: diff.map { ($0.path, $0.change) }) == expected)
                #expect(diff.map(\.path) == diff.map(\.path).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
            }

            // Lookups agree for present and absent paths.
            for path in model.keys.sorted().prefix(5) {
                #expect(try await store.trees.lookup(path, in: commit.tree)?.hash == model[path])
            }
            #expect(try await store.trees.lookup("/a/nothing-here", in: commit.tree) == nil)

            // The shape depends only on the content: rebuilding the same files in one go gives the same root.
            let rebuild = try await store.openCommit(repo: "rebuilt")
            try await rebuild.delete("/")
            for (path, hash) in model {
                try await rebuild.set(path, to: .file(hash, size: Int64(try await store.blobs.get(hash).count)))
            }
            let rebuilt = try await rebuild.finish()
            #expect(rebuilt.tree == commit.tree, "history-independent shape, seed \(seed) step \(step)")
            previous = commit
        }
    }

    /// A camera's frames share a subtree of the folder: taking all of one camera's frames out rewrites the
    /// folder's top node and the path above it, not a leaf in every bucket.
    @Test func removingOneCamerasFramesRewritesTheTopNodeOnly() async throws {
        let blobs = InMemoryBlobStore()
        let store = VersionedStore(blobs: blobs, metadata: try SQLiteMetadataStore(), logger: .test)
        try await store.createRepo("images")
        let shared = try await blobs.put(Data("frame"))
        let writer = try await store.openCommit(repo: "images")
        for camera in 0..<100 {
            for second in 0..<50 {
                try await writer.set(
                    "/cam\(camera)-\(1_700_000_000 + second).jpg", to: .file(shared.hash, size: shared.size))
            }
        }
        _ = try await writer.finish()
        let before = try await blobs.list().reduce(0) { count, _ in count + 1 }
        let erase = try await store.openCommit(repo: "images")
        for second in 0..<50 { try await erase.delete("/cam42-\(1_700_000_000 + second).jpg") }
        let after = try await erase.finish()
        let written = try await blobs.list().reduce(0) { count, _ in count + 1 } - before
        // The new top node, and at most one bucket shared with another camera (two leaves of it).
        #expect(written >= 1 && written <= 3, "wrote \(written) nodes")
        #expect(after.tree.files == 4_950)
        let diff = try await store.diff(commit: Address(repo: "images"))
        #expect(diff.count == 50 && diff.allSatisfy { $0.change == .removed && $0.path.hasPrefix("/cam42-") })
    }

    /// A large folder of one camera has no top node of its own; a second camera's frame gives it one, and
    /// taking that frame away gives back the very same tree. Each state equals the same files built at once,
    /// and each diff is exactly the change.
    @Test func aSecondCameraInALargeFolderComesAndGoesCanonically() async throws {
        let store = try makeMemoryStore()
        try await store.createRepo("images")
        try await store.createRepo("rebuilt")
        let frame = try await store.blobs.put(Data("frame".utf8))
        let value = TreeValue.file(frame.hash, size: frame.size)
        var files = Dictionary(uniqueKeysWithValues: (0..<300).map { ("cam7-\(1_700_000_000 + $0).jpg", value) })
        func commit(_ change: (CommitWriter) async throws -> Void) async throws -> CommitInfo {
            let writer = try await store.openCommit(repo: "images")
            try await change(writer)
            let made = try await writer.finish()
            let rebuild = try await store.openCommit(repo: "rebuilt")
            try await rebuild.delete("/")
            for (name, value) in files { try await rebuild.set("/valid/" + name, to: value) }
            #expect(try await rebuild.finish().tree == made.tree, "history-independent shape")
            return made
        }
        let one = try await commit { writer in
            for (name, value) in files { try await writer.set("/valid/" + name, to: value) }
        }
        files["porch.east-1700000100.jpg"] = value
        let two = try await commit { try await $0.set("/valid/porch.east-1700000100.jpg", to: value) }
        #expect(
            try await store.diff(commit: Address(repo: "images")).map(\.path) == ["/valid/porch.east-1700000100.jpg"])
        #expect(two.tree != one.tree)
        files["porch.east-1700000100.jpg"] = nil
        let three = try await commit { try await $0.delete("/valid/porch.east-1700000100.jpg") }
        let removed = try await store.diff(commit: Address(repo: "images"))
        #expect(removed.map(\.path) == ["/valid/porch.east-1700000100.jpg"] && removed.first?.change == .removed)
        #expect(three.tree == one.tree, "the folder of one camera again")
        let other = try await store.blobs.put(Data("another frame".utf8))
        files["cam7-1700000042.jpg"] = .file(other.hash, size: other.size)
        _ = try await commit { try await $0.set("/valid/cam7-1700000042.jpg", to: .file(other.hash, size: other.size)) }
        let modified = try await store.diff(commit: Address(repo: "images"))
        #expect(modified.map(\.path) == ["/valid/cam7-1700000042.jpg"] && modified.first?.change == .modified)
        #expect(try await store.trees.lookup("/valid/cam7-1700000299.jpg", in: three.tree)?.hash == frame.hash)
    }

    @Test func aFolderOfSeventyThousandFilesChangesByRewritingAFewNodes() async throws {
        let blobs = InMemoryBlobStore()
        let store = VersionedStore(blobs: blobs, metadata: try SQLiteMetadataStore(), logger: .test)
        try await store.createRepo("big")
        let shared = try await blobs.put(Data("frame"))
        let writer = try await store.openCommit(repo: "big")
        for index in 0..<70_000 {
            try await writer.set("/valid/cam-\(index).jpg", to: .file(shared.hash, size: shared.size))
        }
        let big = try await writer.finish()
        #expect(big.tree.files == 70_000)

        func blobCount() async throws -> Int {
            var count = 0
            for try await _ in blobs.list() { count += 1 }
            return count
        }
        let before = try await blobCount()
        let one = try await store.openCommit(repo: "big")
        try await one.put("/valid/cam-new.jpg", data: Data("new frame"))
        let after = try await one.finish()
        // One new file blob, plus the nodes on its path: the root, /valid's two shard levels and a leaf.
        let written = try await blobCount() - before
        #expect(written >= 2 && written <= 5, "wrote \(written) blobs")
        #expect(after.tree.files == 70_001)

        let diff = try await store.diff(commit: Address(repo: "big"))
        #expect(diff.map(\.path) == ["/valid/cam-new.jpg"])
        #expect(try await store.trees.lookup("/valid/cam-69999.jpg", in: after.tree)?.hash == shared.hash)
        let listing = try await store.list(Address(repo: "big", path: "/valid"))
        #expect(listing.count == 70_001)
        #expect(listing.map(\.name) == listing.map(\.name).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
    }
}

extension Sequence {
    func asyncReduce<Result>(
        _ initial: Result, _ next: (Result, Element) async throws -> Result
    ) async rethrows
        -> Result
    {
        var result = initial
        for element in self { result = try await next(result, element) }
        return result
    }
}
