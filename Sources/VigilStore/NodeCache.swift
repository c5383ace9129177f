/// Decoded tree nodes by hash. Nodes are immutable and content-addressed, so a cached node is never stale.
///
/// Bounded by an estimate of the bytes held, not by a node count: a flat node holds up to 256 entries, and a
/// long job rewriting a large datum index produces many such nodes (by count alone the cache grew by tens of
/// MB per 100,000 datums).
final class NodeCache: Sendable {
    private let nodes: GenerationalCache<BlobHash, TreeNode>

    /// `bytes` in all: each of the two generations holds half.
    init(bytes: Int = 64 << 20) {
        nodes = GenerationalCache(capacity: bytes / 2, cost: Self.estimatedBytes)
    }

    func node(_ hash: BlobHash) -> TreeNode? { nodes.value(for: hash) }

    func insert(_ hash: BlobHash, _ node: TreeNode) { nodes.insert(node, for: hash) }

    /// Roughly what a decoded node occupies: an entry is a name, a hash and two counts.
    private static func estimatedBytes(_ node: TreeNode) -> Int {
        switch node {
        case .flat(let entries): 64 + entries.reduce(0) { $0 + 96 + $1.name.utf8.count }
        case .sharded(_, _, let refs): 64 + refs.count * 48
        }
    }
}
