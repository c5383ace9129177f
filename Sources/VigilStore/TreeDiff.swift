/// One changed file between two trees.
public struct DiffEntry: Sendable, Hashable, Codable {
    public enum Change: String, Sendable, Codable {
        case added, removed, modified
    }

    public var path: String
    public var change: Change
    public var old: TreeValue?
    public var new: TreeValue?
}

extension TreeStore {
    /// The files that differ between directories `old` and `new` (root node hashes), sorted by path.
    /// Equal subtrees are skipped by hash, so the cost follows the number of changes, not the tree's size.
    public func diff(from old: BlobHash, to new: BlobHash, path: String = "/") async throws -> [DiffEntry] {
        var out: [DiffEntry] = []
        try await diffDirectories(old, new, path: path, into: &out)
        return out
    }

    private func diffDirectories(
        _ old: BlobHash, _ new: BlobHash, path: String, into out: inout [DiffEntry]
    )
        async throws
    {
        if old == new { return }
        if let (oldRefs, newRefs) = try await pairedBuckets(old, new) {
            // Same shape: pair the buckets and descend only where they differ.
            let oldByBucket = Dictionary(uniqueKeysWithValues: oldRefs.map { ($0.bucket, $0.hash) })
            let newByBucket = Dictionary(uniqueKeysWithValues: newRefs.map { ($0.bucket, $0.hash) })
            var pending: [DiffEntry] = []
            let buckets = Set(oldByBucket.keys).union(newByBucket.keys).filter { oldByBucket[$0] != newByBucket[$0] }
            try await prefetch(buckets.flatMap { [oldByBucket[$0], newByBucket[$0]].compactMap { $0 } })
            for bucket in buckets {
                try await diffDirectories(
                    oldByBucket[bucket] ?? Self.emptyHash, newByBucket[bucket] ?? Self.emptyHash, path: path,
                    into: &pending)
            }
            // Buckets follow name hashes; callers expect path order.
            out.append(contentsOf: pending.sorted { $0.path.precedesBytewise($1.path) })
            return
        }
        // A flat node on either side holds at most 256 entries, and the other side differs from it only by
        // the changes, so reading both whole stays bounded by the changes. (So does a directory sharded before
        // device grouping against the same one grouped: both read whole, once.)
        let oldEntries = try await entries(ofDirectory: old)
        let newEntries = try await entries(ofDirectory: new)
        var oldIndex = 0
        var newIndex = 0
        while oldIndex < oldEntries.count || newIndex < newEntries.count {
            let oldEntry = oldIndex < oldEntries.count ? oldEntries[oldIndex] : nil
            let newEntry = newIndex < newEntries.count ? newEntries[newIndex] : nil
            if let oldEntry, newEntry == nil || oldEntry.name.precedesBytewise(newEntry!.name) {
                try await report(oldEntry, .removed, path: StorePath.join(path, oldEntry.name), into: &out)
                oldIndex += 1
            } else if let newEntry, oldEntry == nil || newEntry.name.precedesBytewise(oldEntry!.name) {
                try await report(newEntry, .added, path: StorePath.join(path, newEntry.name), into: &out)
                newIndex += 1
            } else if let oldEntry, let newEntry {
                let child = StorePath.join(path, oldEntry.name)
                switch (oldEntry.kind, newEntry.kind) {
                case (.file, .file):
                    if oldEntry.hash != newEntry.hash {
                        out.append(DiffEntry(path: child, change: .modified, old: oldEntry.value, new: newEntry.value))
                    }
                case (.directory, .directory):
                    try await diffDirectories(oldEntry.hash, newEntry.hash, path: child, into: &out)
                default:
                    try await report(oldEntry, .removed, path: child, into: &out)
                    try await report(newEntry, .added, path: child, into: &out)
                }
                oldIndex += 1
                newIndex += 1
            }
        }
    }

    /// Reports a file, or every file under a directory, as added or removed.
    private func report(
        _ entry: TreeEntry, _ change: DiffEntry.Change, path: String, into out: inout [DiffEntry]
    )
        async throws
    {
        guard entry.kind == .directory else {
            out.append(
                DiffEntry(
                    path: path, change: change, old: change == .removed ? entry.value : nil,
                    new: change == .added ? entry.value : nil))
            return
        }
        try await walkFiles(under: entry.hash, path: path) { filePath, file in
            out.append(
                DiffEntry(
                    path: filePath, change: change, old: change == .removed ? file.value : nil,
                    new: change == .added ? file.value : nil))
        }
    }

    /// The children of two sharded nodes of the same shape (depth and key), to be paired by bucket; nil when
    /// the shapes differ or either is flat. A directory whose top node is not stored (one device bucket) is
    /// paired with a grouped one as that top node's single child.
    private func pairedBuckets(_ old: BlobHash, _ new: BlobHash) async throws -> ([ShardRef], [ShardRef])? {
        guard case .sharded(let oldDepth, let oldKey, let oldRefs) = try await node(old),
            case .sharded(let newDepth, let newKey, let newRefs) = try await node(new)
        else { return nil }
        if oldDepth == newDepth, oldKey == newKey { return (oldRefs, newRefs) }
        if oldDepth == 0, oldKey == .device, newDepth == 1 { return (oldRefs, [try await topBucket(new)]) }
        if newDepth == 0, newKey == .device, oldDepth == 1 { return ([try await topBucket(old)], newRefs) }
        return nil
    }
}
