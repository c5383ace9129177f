/// What the buckets of a sharded node are a byte of: part of the stored format (the node's kind byte).
enum ShardKey: UInt8, Sendable, Hashable {
    /// A byte of the hash of the entry's name.
    case name = 1
    /// The top byte of the hash of the entry's device: its name up to the first `-` (all of it without one).
    /// Only a directory's top node (depth 0) splits so.
    case device = 2
}
