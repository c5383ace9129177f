import Foundation

/// Reads and writes Merkle trees of `TreeNode`s kept in a `BlobStore`, with a cache of decoded nodes.
public final class TreeStore: Sendable {
    public let blobs: any BlobStore
    private let cache = NodeCache()

    public init(blobs: any BlobStore) {
        self.blobs = blobs
    }

    /// The hash of the empty directory: the tree of a repo with no files.
    public static let emptyHash = BlobHash(of: TreeNodeCodec.encode(.empty))
    public static let emptyRoot = TreeRoot(hash: emptyHash, size: 0, files: 0)

    // MARK: Nodes

    func node(_ hash: BlobHash) async throws -> TreeNode {
        if let node = cache.node(hash) { return node }
        if hash == Self.emptyHash { return .empty }
        let node = try TreeNodeCodec.decode(try await blobs.get(hash), hash: hash)
        cache.insert(hash, node)
        return node
    }

    func write(_ node: TreeNode) async throws -> BlobHash {
        let written = try await blobs.put(TreeNodeCodec.encode(node))
        cache.insert(written.hash, node)
        return written.hash
    }

    /// Stores the empty directory's node, so every commit's tree resolves in the blob store.
    public func writeEmptyRoot() async throws {
        _ = try await write(.empty)
    }

    // MARK: Reading directories

    /// The entry named `name` in the directory whose root node is `directory`, reading one node per level.
    public func entry(named name: String, inDirectory directory: BlobHash) async throws -> TreeEntry? {
        var hash = directory
        while true {
            switch try await node(hash) {
            case .flat(let entries):
                return Self.binarySearch(entries, name).map { entries[$0] }
            case .sharded(let depth, let key, let refs):
                let bucket = TreeNode.bucket(of: name, depth: depth, key: key)
                guard let ref = refs.first(where: { $0.bucket == bucket }) else { return nil }
                hash = ref.hash
            }
        }
    }

    /// The entry at `path` under `root` (a synthetic directory entry named "" for `/`), or nil.
    public func lookup(_ path: String, in root: TreeRoot) async throws -> TreeEntry? {
        var current = TreeEntry(name: "", value: .directory(root))
        for component in try StorePath.components(path) {
            guard current.kind == .directory,
                let next = try await entry(named: component, inDirectory: current.hash)
            else { return nil }
            current = next
        }
        return current
    }

    /// Every entry of one directory, sorted by name. Reads only that directory's nodes.
    public func entries(ofDirectory directory: BlobHash) async throws -> [TreeEntry] {
        var entries: [TreeEntry] = []
        try await collect(directory, into: &entries)
        entries.sort { $0.name.precedesBytewise($1.name) }
        return entries
    }

    /// Every entry of one directory, node by node, without holding the listing: by name within a folder of up
    /// to 256 entries, bucket by bucket beyond. What a walk over a million-entry folder uses.
    public func forEachEntry(ofDirectory directory: BlobHash, _ visit: (TreeEntry) async throws -> Void) async throws {
        switch try await node(directory) {
        case .flat(let entries):
            for entry in entries { try await visit(entry) }
        case .sharded(_, _, let refs):
            // A window of children read side by side ahead of the walk: a round trip each on S3 otherwise.
            for start in stride(from: 0, to: refs.count, by: Self.nodeWidth) {
                let window = refs[start..<min(start + Self.nodeWidth, refs.count)]
                try await prefetch(window.map(\.hash))
                for ref in window { try await forEachEntry(ofDirectory: ref.hash, visit) }
            }
        }
    }

    private func collect(_ hash: BlobHash, into entries: inout [TreeEntry]) async throws {
        switch try await node(hash) {
        case .flat(let found): entries.append(contentsOf: found)
        case .sharded(_, _, let refs):
            try await prefetch(refs.map(\.hash))
            for ref in refs { try await collect(ref.hash, into: &entries) }
        }
    }

    /// Reads the nodes not yet cached side by side (up to `nodeWidth` at once), so that a walk over them that
    /// follows costs no round trip each: a sharded directory on S3 has up to a few hundred children.
    func prefetch(_ hashes: [BlobHash]) async throws {
        let missing = hashes.filter { $0 != Self.emptyHash && cache.node($0) == nil }
        guard missing.count > 1 else { return }
        _ = try await missing.concurrentMap(width: Self.nodeWidth) { hash in _ = try await self.node(hash) }
    }

    /// Calls `visit` with every file under `directory`, depth first, sorted by name, with its full path.
    public func walkFiles(
        under directory: BlobHash, path: String = "/",
        _ visit: (String, TreeEntry) async throws -> Void
    ) async throws {
        for entry in try await entries(ofDirectory: directory) {
            let child = StorePath.join(path, entry.name)
            if entry.kind == .file {
                try await visit(child, entry)
            } else {
                try await walkFiles(under: entry.hash, path: child, visit)
            }
        }
    }

    /// Calls `visit` once with every node hash reachable from `root` and each file hash (possibly more than
    /// once for files); skips subtrees whose node `shouldDescend` declines (already seen by gc or fsck).
    func walkHashes(
        from root: BlobHash, shouldDescend: (BlobHash) async throws -> Bool,
        file: (TreeEntry) async throws -> Void
    ) async throws {
        guard try await shouldDescend(root) else { return }
        switch try await node(root) {
        case .flat(let entries):
            for entry in entries {
                if entry.kind == .file {
                    try await file(entry)
                } else {
                    try await walkHashes(from: entry.hash, shouldDescend: shouldDescend, file: file)
                }
            }
        case .sharded(_, _, let refs):
            for ref in refs { try await walkHashes(from: ref.hash, shouldDescend: shouldDescend, file: file) }
        }
    }

    static func binarySearch(_ entries: [TreeEntry], _ name: String) -> Int? {
        var low = 0
        var high = entries.count - 1
        while low <= high {
            let mid = (low + high) / 2
            let candidate = entries[mid].name
            if candidate == name { return mid }
            if candidate.precedesBytewise(name) { low = mid + 1 } else { high = mid - 1 }
        }
        return nil
    }

    // MARK: Writing

    /// Applies `changes` to the tree `root` and returns the new root. Only nodes on changed paths are read
    /// and written: O(k log N) for k changes in a tree of N entries.
    /// How many child nodes of one sharded node are read or written at once.
    static let nodeWidth = 32
    /// How many children a large directory's node has at most (one per value of a byte of the name hash): a
    /// change of about this many paths rewrites nearly every one of them, a change of a few paths only a few.
    public static let nodeFanOut = 256

    public func apply(_ changes: ChangeSet, to root: TreeRoot) async throws -> TreeRoot {
        let start = changes.root ?? root
        guard let updated = try await applyDirectory(start.hash, changes, path: "/") else { return Self.emptyRoot }
        return TreeRoot(hash: updated.hash, size: updated.size, files: updated.files)
    }

    /// The new value of a directory after `changes`, or nil when it ends up empty.
    private func applyDirectory(
        _ directory: BlobHash?, _ changes: ChangeSet, path: String
    ) async throws
        -> TreeValue?
    {
        let edits = changes.edits.sorted { $0.key.precedesBytewise($1.key) }
        if edits.isEmpty {
            guard let directory, directory != Self.emptyHash else { return nil }
            let totals = try await node(directory).totals
            return TreeValue(kind: .directory, hash: directory, size: totals.size, files: totals.files)
        }
        guard let summary = try await update(directory, depth: 0, edits: edits[...], path: path) else { return nil }
        return TreeValue(kind: .directory, hash: summary.hash, size: summary.size, files: summary.files)
    }

    private struct Summary {
        var hash: BlobHash
        var entries: Int64
        var size: Int64
        var files: Int64
    }

    /// Applies `edits` (sorted by name) to the node `hash` at `depth` of a directory's trie.
    private func update(
        _ hash: BlobHash?, depth: Int, edits: ArraySlice<(key: String, value: ChangeSet.Edit)>, path: String
    ) async throws -> Summary? {
        let current: TreeNode = if let hash { try await node(hash) } else { .empty }
        switch current {
        case .flat(let entries):
            var merged: [TreeEntry] = []
            merged.reserveCapacity(entries.count + edits.count)
            var index = entries.startIndex
            for (name, edit) in edits {
                while index < entries.endIndex, entries[index].name.precedesBytewise(name) {
                    merged.append(entries[index])
                    index += 1
                }
                var existing: TreeEntry?
                if index < entries.endIndex, entries[index].name == name {
                    existing = entries[index]
                    index += 1
                }
                if let value = try await resolve(existing?.value, edit, path: StorePath.join(path, name)) {
                    merged.append(TreeEntry(name: name, value: value))
                }
            }
            merged.append(contentsOf: entries[index...])
            return try await build(merged[...], depth: depth)
        case .sharded(let nodeDepth, let key, let refs):
            guard depth == 0, nodeDepth > 0, let hash else {
                return try await update(sharded: refs, depth: nodeDepth, key: key, edits: edits, path: path)
            }
            // A directory whose top node is not stored: updated as that top node with its one bucket.
            return try await update(
                sharded: [try await topBucket(hash)], depth: 0, key: .device, edits: edits, path: path)
        }
    }

    /// Applies `edits` to the sharded node at `depth` split by `key` whose children are `refs`.
    private func update(
        sharded refs: [ShardRef], depth nodeDepth: Int, key: ShardKey,
        edits: ArraySlice<(key: String, value: ChangeSet.Edit)>, path: String
    ) async throws -> Summary? {
        var byBucket: [Int: [(key: String, value: ChangeSet.Edit)]] = [:]
        for edit in edits {
            byBucket[TreeNode.bucket(of: edit.key, depth: nodeDepth, key: key), default: []].append(edit)
        }
        var newRefs: [Int: ShardRef] = Dictionary(uniqueKeysWithValues: refs.map { ($0.bucket, $0) })
        // The buckets' subtrees are independent: their nodes are read and written side by side.
        let existing = newRefs
        let children = try await Array(byBucket).concurrentMap(width: Self.nodeWidth) { bucket, bucketEdits in
            (
                bucket,
                try await self.update(
                    existing[bucket]?.hash, depth: nodeDepth + 1, edits: bucketEdits[...], path: path)
            )
        }
        for (bucket, child) in children {
            newRefs[bucket] = child.map {
                ShardRef(bucket: bucket, hash: $0.hash, entries: $0.entries, size: $0.size, files: $0.files)
            }
        }
        let sortedRefs = newRefs.values.sorted { $0.bucket < $1.bucket }
        let total = sortedRefs.reduce(Int64(0)) { $0 + $1.entries }
        if total == 0 { return nil }
        if total <= Int64(TreeNode.flatLimit) {
            // Small again: the canonical shape is one flat node.
            var all: [TreeEntry] = []
            for ref in sortedRefs { try await collect(ref.hash, into: &all) }
            all.sort { $0.name.precedesBytewise($1.name) }
            return try await build(all[...], depth: nodeDepth)
        }
        if key == .device, sortedRefs.count == 1 {
            // One device bucket left: the directory's node is that bucket's.
            let only = sortedRefs[0]
            return Summary(hash: only.hash, entries: only.entries, size: only.size, files: only.files)
        }
        let shaped = TreeNode.sharded(depth: nodeDepth, key: key, sortedRefs)
        let totals = shaped.totals
        return Summary(hash: try await write(shaped), entries: total, size: totals.size, files: totals.files)
    }

    /// A directory's node one level down (its top node not stored, all its entries in one device bucket), as
    /// the ref that top node would hold.
    func topBucket(_ hash: BlobHash) async throws -> ShardRef {
        let node = try await node(hash)
        let totals = node.totals
        return ShardRef(
            bucket: TreeNode.bucket(of: try await firstName(under: hash), depth: 0, key: .device), hash: hash,
            entries: node.entryCount, size: totals.size, files: totals.files)
    }

    /// The name of the first entry found under the node `hash` (a directory has at least one).
    private func firstName(under hash: BlobHash) async throws -> String {
        switch try await node(hash) {
        case .flat(let entries):
            guard let first = entries.first else {
                throw VigilError(
                    .corruptData, "tree node \(hash.hex) is empty where entries were expected", value: hash.hex)
            }
            return first.name
        case .sharded(_, _, let refs):
            guard let first = refs.first else {
                throw VigilError(.corruptData, "tree node \(hash.hex) has no children", value: hash.hex)
            }
            return try await firstName(under: first.hash)
        }
    }

    /// The canonical node for `entries` (sorted, unique names) at `depth`.
    private func build(_ entries: ArraySlice<TreeEntry>, depth: Int) async throws -> Summary? {
        if entries.isEmpty { return nil }
        if entries.count <= TreeNode.flatLimit || depth >= TreeNode.maxDepth {
            let node = TreeNode.flat(Array(entries))
            let totals = node.totals
            return Summary(
                hash: try await write(node), entries: Int64(entries.count), size: totals.size, files: totals.files)
        }
        let key = TreeNode.shardKey(depth: depth)
        var groups: [Int: [TreeEntry]] = [:]
        for entry in entries {
            groups[TreeNode.bucket(of: entry.name, depth: depth, key: key), default: []].append(entry)
        }
        // One device bucket: the directory's node is that bucket's (no top node of one child).
        if key == .device, groups.count == 1 { return try await build(entries, depth: depth + 1) }
        // A sharded directory has up to a few hundred children: written side by side, not one round trip each.
        let grouped = groups
        let refs = try await grouped.keys.sorted().concurrentMap(width: Self.nodeWidth) { bucket in
            let child = try await self.build(grouped[bucket]![...], depth: depth + 1)!
            return ShardRef(
                bucket: bucket, hash: child.hash, entries: child.entries, size: child.size, files: child.files)
        }
        let node = TreeNode.sharded(depth: depth, key: key, refs)
        let totals = node.totals
        return Summary(
            hash: try await write(node), entries: Int64(entries.count), size: totals.size, files: totals.files)
    }

    /// The value a name ends up with: its direct change first, then changes nested below it.
    private func resolve(_ existing: TreeValue?, _ edit: ChangeSet.Edit, path: String) async throws -> TreeValue? {
        var value = existing
        switch edit.direct {
        case .set(let new): value = new
        case .remove: value = nil
        case nil: break
        }
        guard let nested = edit.nested, !nested.isEmpty else { return value }
        if let value, value.kind == .file {
            throw VigilError(
                .pathConflict, "cannot put files under '\(path)': it is a file; delete it first", value: path)
        }
        return try await applyDirectory(value?.hash, nested, path: path)
    }
}
