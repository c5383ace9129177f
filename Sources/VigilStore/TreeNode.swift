/// One stored node of a directory.
///
/// A directory of at most `flatLimit` entries is one `flat` node, entries sorted by name. A larger one is a
/// `sharded` node that splits its entries by one byte of a hash into up to 256 child nodes, each again flat or
/// sharded one byte deeper (a hash array mapped trie). A directory's top node splits by the hash of each
/// name's device (`ShardKey.device`: what comes before the first `-` of `<device>-<time>.jpg`), the levels
/// below by the hash of the name, so one camera's frames share a subtree: erasing a camera rewrites the
/// top node, not a leaf in every bucket. A top node with a single bucket is not stored: the directory's node
/// is that bucket's (one level down). The shape is a pure function of the set of names, never of history, so
/// equal directories have equal hashes, and a change to one entry of a million rewrites three or four small
/// nodes: O(log N) per change, and diff can skip every equal subtree. (Directories sharded before device
/// grouping keep their top node split by name, `ShardKey.name`, as long as they stay large.)
enum TreeNode: Sendable, Hashable {
    case flat([TreeEntry])
    case sharded(depth: Int, key: ShardKey, [ShardRef])

    static let flatLimit = 256
    /// The name hash has 64 bits, one byte a level; at the last level a node stays flat whatever its size.
    static let maxDepth = 8
    static let empty = TreeNode.flat([])

    /// The number of directory entries under this node.
    var entryCount: Int64 {
        switch self {
        case .flat(let entries): Int64(entries.count)
        case .sharded(_, _, let refs): refs.reduce(0) { $0 + $1.entries }
        }
    }

    var totals: (size: Int64, files: Int64) {
        switch self {
        case .flat(let entries): entries.reduce((0, 0)) { ($0.0 + $1.size, $0.1 + $1.files) }
        case .sharded(_, _, let refs): refs.reduce((0, 0)) { ($0.0 + $1.size, $0.1 + $1.files) }
        }
    }

    /// What a node newly sharded at `depth` splits by: a directory's top node by device, the levels below by
    /// name.
    static func shardKey(depth: Int) -> ShardKey { depth == 0 ? .device : .name }

    /// Which child of a sharded node at `depth`, split by `key`, holds `name`. Part of the stored format:
    /// never change it.
    static func bucket(of name: String, depth: Int, key: ShardKey) -> Int {
        if key == .device, depth == 0 {
            return Int(hash(name.utf8.prefix { $0 != UInt8(ascii: "-") }) >> 56)
        }
        return Int((hash(name.utf8) >> UInt64(56 - 8 * depth)) & 0xFF)
    }

    /// FNV-1a over the bytes, then the SplitMix64 finaliser so every byte of the result is well mixed.
    private static func hash(_ bytes: some Sequence<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        hash = (hash ^ (hash >> 30)) &* 0xbf58_476d_1ce4_e5b9
        hash = (hash ^ (hash >> 27)) &* 0x94d0_49bb_1331_11eb
        hash ^= hash >> 31
        return hash
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
