import Synchronization

/// Decoded tree nodes by hash. Nodes are immutable and content-addressed, so a cached node is never stale.
/// Two generations approximate LRU at O(1): when the young one fills, it becomes the old one and the old one
/// is dropped; a hit in the old generation moves the node back to the young one.
final class NodeCache: Sendable {
    private struct Generations {
        var young: [BlobHash: TreeNode] = [:]
        var old: [BlobHash: TreeNode] = [:]
    }

    private let generations = Mutex(Generations())
    private let capacity: Int

    init(capacity: Int = 32_768) {
        self.capacity = capacity
    }

    func node(_ hash: BlobHash) -> TreeNode? {
        generations.withLock { state in
            if let node = state.young[hash] { return node }
            guard let node = state.old[hash] else { return nil }
            Self.insert(hash, node, into: &state, capacity: capacity)
            return node
        }
    }

    func insert(_ hash: BlobHash, _ node: TreeNode) {
        generations.withLock { Self.insert(hash, node, into: &$0, capacity: capacity) }
    }

    private static func insert(_ hash: BlobHash, _ node: TreeNode, into state: inout Generations, capacity: Int) {
        if state.young.count >= capacity {
            state.old = state.young
            state.young = [:]
        }
        state.young[hash] = node
    }
}
