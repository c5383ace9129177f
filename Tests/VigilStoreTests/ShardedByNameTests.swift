import Foundation
import Testing

@testable import VigilStore

/// Folders sharded before device grouping (their top node split by the hash of each name) are read, changed and
/// diffed as before, and keep that layout while they stay large.
@Suite("Trees sharded by name")
struct ShardedByNameTests {
    static func frame(_ camera: Int, _ second: Int) -> String { "cam\(camera)-\(1_700_000_000 + second).jpg" }

    @Test func aFolderShardedByNameIsReadAndChangedAsBefore() async throws {
        let store = try makeMemoryStore()
        let trees = store.trees
        let shared = try await store.blobs.put(Data("frame".utf8))
        let value = TreeValue.file(shared.hash, size: shared.size)
        var model: [String: BlobHash] = [:]
        var buckets: [Int: [TreeEntry]] = [:]
        for camera in 0..<10 {
            for second in 0..<100 {
                let name = Self.frame(camera, second)
                model["/" + name] = shared.hash
                buckets[TreeNode.bucket(of: name, depth: 0, key: .name), default: []].append(
                    TreeEntry(name: name, value: value))
            }
        }
        var refs: [ShardRef] = []
        for (bucket, entries) in buckets.sorted(by: { $0.key < $1.key }) {
            let sorted = entries.sorted { $0.name.precedesBytewise($1.name) }
            refs.append(
                ShardRef(
                    bucket: bucket, hash: try await trees.write(.flat(sorted)), entries: Int64(sorted.count),
                    size: Int64(sorted.count) * shared.size, files: Int64(sorted.count)))
        }
        let old = TreeRoot(
            hash: try await trees.write(.sharded(depth: 0, key: .name, refs)), size: 1_000 * shared.size, files: 1_000)
        #expect(try await snapshot(store, old) == model)
        #expect(try await trees.lookup("/" + Self.frame(3, 42), in: old)?.hash == shared.hash)

        // Another camera's frames, and one camera's taken out.
        var changes = ChangeSet()
        for second in 0..<100 {
            try changes.stage(.set(value), at: [Self.frame(10, second)], fullPath: "/" + Self.frame(10, second))
            model["/" + Self.frame(10, second)] = shared.hash
            try changes.stage(.remove, at: [Self.frame(4, second)], fullPath: "/" + Self.frame(4, second))
            model["/" + Self.frame(4, second)] = nil
        }
        let new = try await trees.apply(changes, to: old)
        #expect(try await snapshot(store, new) == model)
        guard case .sharded(0, .name, _) = try await trees.node(new.hash) else {
            Issue.record("a large folder sharded by name stays so")
            return
        }
        let diff = try await trees.diff(from: old.hash, to: new.hash)
        #expect(diff.count == 200)
        #expect(diff.filter { $0.change == .added }.allSatisfy { $0.path.hasPrefix("/cam10-") })
        #expect(diff.filter { $0.change == .removed }.allSatisfy { $0.path.hasPrefix("/cam4-") })
        #expect(diff.map(\.path) == diff.map(\.path).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        #expect(try await trees.lookup("/" + Self.frame(10, 7), in: new)?.hash == shared.hash)
        #expect(try await trees.lookup("/" + Self.frame(4, 7), in: new) == nil)
    }

    /// A node kind this Vigil does not know, a device split below the top, or buckets out of order are refused,
    /// not misread.
    @Test func aNodeOfAnUnknownKindOrADeviceSplitBelowTheTopIsMalformed() throws {
        let ref = ShardRef(bucket: 1, hash: BlobHash(of: Data("x".utf8)), entries: 300, size: 300, files: 300)
        var deep = TreeNodeCodec.encode(.sharded(depth: 1, key: .device, [ref]))
        #expect(throws: (any Error).self) { try TreeNodeCodec.decode(deep, hash: BlobHash(of: deep)) }
        deep[1] = 3
        #expect(throws: (any Error).self) { try TreeNodeCodec.decode(deep, hash: BlobHash(of: deep)) }
        var backwards = ref
        backwards.bucket = 0
        let unordered = TreeNodeCodec.encode(.sharded(depth: 0, key: .device, [ref, backwards]))
        #expect(throws: (any Error).self) { try TreeNodeCodec.decode(unordered, hash: BlobHash(of: unordered)) }
        let top = TreeNodeCodec.encode(.sharded(depth: 0, key: .device, [ref]))
        #expect(try TreeNodeCodec.decode(top, hash: BlobHash(of: top)) == .sharded(depth: 0, key: .device, [ref]))
    }
}
