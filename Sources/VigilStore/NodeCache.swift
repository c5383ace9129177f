import Synchronization

/// Decoded tree nodes by hash. Nodes are immutable and content-addressed, so a cached node is never stale.
/// Two generations approximate LRU at O(1): when the young one fills, it becomes the old one and the old one
/// is dropped; a hit in the old generation moves the node back to the young one.
///
/// Bounded by an estimate of the bytes held, not by a node count: a flat node holds up to 256 entries, and a
/// long job rewriting a large datum index produces many such nodes (by count alone the cache grew by tens of
/// MB per 100,000 datums).
final class NodeCache: Sendable {
    private struct Generations {
        var young: [BlobHash: TreeNode] = [:]
        var youngBytes = 0
        var old: [BlobHash: TreeNode] = [:]
    }

    private let generations = Mutex(Generations())
    /// Bytes one generation may hold; the cache holds at most twice this.
    private let generationBytes: Int

    init(bytes: Int = 64 << 20) {
        generationBytes = bytes / 2
    }

    func node(_ hash: BlobHash) -> TreeNode? {
        generations.withLock { state in
            if let node = state.young[hash] { return node }
            guard let node = state.old.removeValue(forKey: hash) else { return nil }
            Self.insert(hash, node, into: &state, limit: generationBytes)
            return node
        }
    }

    func insert(_ hash: BlobHash, _ node: TreeNode) {
        generations.withLock { Self.insert(hash, node, into: &$0, limit: generationBytes) }
    }

    private static func insert(_ hash: BlobHash, _ node: TreeNode, into state: inout Generations, limit: Int) {
        let bytes = estimatedBytes(node)
        if state.youngBytes + bytes > limit, !state.young.isEmpty {
            state.old = state.young
            state.young = [:]
            state.youngBytes = 0
        }
        if state.young.updateValue(node, forKey: hash) == nil { state.youngBytes += bytes }
    }

    /// Roughly what a decoded node occupies: an entry is a name, a hash and two counts.
    private static func estimatedBytes(_ node: TreeNode) -> Int {
        switch node {
        case .flat(let entries): 64 + entries.reduce(0) { $0 + 96 + $1.name.utf8.count }
        case .sharded(_, _, let refs): 64 + refs.count * 48
        }
    }
}
