/// One stored node of a directory.
///
/// A directory of at most `flatLimit` entries is one `flat` node, entries sorted by name. A larger one is a
/// `sharded` node that splits its entries by one byte of a hash of their names into up to 256 child nodes,
/// each again flat or sharded one byte deeper (a hash array mapped trie). The shape is a pure function of the
/// set of names, never of history, so equal directories have equal hashes, and a change to one entry of a
/// million rewrites three small nodes: O(log N) per change, and diff can skip every equal subtree.
enum TreeNode: Sendable, Hashable {
    case flat([TreeEntry])
    case sharded(depth: Int, [ShardRef])

    static let flatLimit = 256
    /// The name hash has 64 bits, one byte a level; at the last level a node stays flat whatever its size.
    static let maxDepth = 8
    static let empty = TreeNode.flat([])

    /// The number of directory entries under this node.
    var entryCount: Int64 {
        switch self {
        case .flat(let entries): Int64(entries.count)
        case .sharded(_, let refs): refs.reduce(0) { $0 + $1.entries }
        }
    }

    var totals: (size: Int64, files: Int64) {
        switch self {
        case .flat(let entries): entries.reduce((0, 0)) { ($0.0 + $1.size, $0.1 + $1.files) }
        case .sharded(_, let refs): refs.reduce((0, 0)) { ($0.0 + $1.size, $0.1 + $1.files) }
        }
    }

    /// Which child of a sharded node at `depth` holds `name`. Part of the stored format: never change it.
    static func bucket(of name: String, depth: Int) -> Int {
        // FNV-1a over the UTF-8 bytes, then the SplitMix64 finaliser so every byte of the result is well mixed.
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in name.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        hash = (hash ^ (hash >> 30)) &* 0xbf58_476d_1ce4_e5b9
        hash = (hash ^ (hash >> 27)) &* 0x94d0_49bb_1331_11eb
        hash ^= hash >> 31
        return Int((hash >> UInt64(56 - 8 * depth)) & 0xFF)
    }
}

/// A sharded node's pointer to one child, with the totals below it.
struct ShardRef: Sendable, Hashable {
    var bucket: Int
    var hash: BlobHash
    var entries: Int64
    var size: Int64
    var files: Int64
}
