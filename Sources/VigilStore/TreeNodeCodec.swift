import Foundation

/// The byte format of a `TreeNode`: compact, and deterministic so that equal nodes have equal hashes.
///
///     node    := version(1) kind(0 flat | 1 sharded by name | 2 sharded by device) body
///     flat    := uvarint(n) { uvarint(len) name kind(1) hash(32) uvarint(size) uvarint(files) }*n
///     sharded := depth(1) uvarint(n) { bucket(1) hash(32) uvarint(entries) uvarint(size) uvarint(files) }*n
///
/// (Kind 2 is only ever at depth 0; a reader without it refuses such a node as malformed.)
enum TreeNodeCodec {
    static let version: UInt8 = 1

    static func encode(_ node: TreeNode) -> Data {
        var out: [UInt8] = [version]
        switch node {
        case .flat(let entries):
            out.reserveCapacity(16 + entries.count * 64)
            out.append(0)
            appendVarint(UInt64(entries.count), to: &out)
            for entry in entries {
                appendVarint(UInt64(entry.name.utf8.count), to: &out)
                out.append(contentsOf: entry.name.utf8)
                out.append(entry.kind.rawValue)
                entry.hash.append(to: &out)
                appendVarint(UInt64(entry.size), to: &out)
                appendVarint(UInt64(entry.files), to: &out)
            }
        case .sharded(let depth, let key, let refs):
            out.reserveCapacity(16 + refs.count * 48)
            out.append(key.rawValue)
            out.append(UInt8(depth))
            appendVarint(UInt64(refs.count), to: &out)
            for ref in refs {
                out.append(UInt8(ref.bucket))
                ref.hash.append(to: &out)
                appendVarint(UInt64(ref.entries), to: &out)
                appendVarint(UInt64(ref.size), to: &out)
                appendVarint(UInt64(ref.files), to: &out)
            }
        }
        return Data(out)
    }

    static func decode(_ data: Data, hash: BlobHash) throws -> TreeNode {
        do {
            return try data.withUnsafeBytes { raw in
                var reader = Reader(raw: raw)
                guard try reader.byte() == version else { throw Reader.Malformed() }
                switch try reader.byte() {
                case 0:
                    let count = try reader.count()
                    var entries: [TreeEntry] = []
                    entries.reserveCapacity(count)
                    for _ in 0..<count {
                        let name = try reader.string(length: reader.count())
                        guard let kind = TreeEntry.Kind(rawValue: try reader.byte()) else { throw Reader.Malformed() }
                        let hash = try reader.hash()
                        let value = TreeValue(
                            kind: kind, hash: hash, size: try reader.int64(), files: try reader.int64())
                        entries.append(TreeEntry(name: name, value: value))
                    }
                    try reader.expectEnd()
                    return .flat(entries)
                case let kind:
                    guard let key = ShardKey(rawValue: kind) else { throw Reader.Malformed() }
                    let depth = Int(try reader.byte())
                    guard depth < TreeNode.maxDepth, key == .name || depth == 0 else { throw Reader.Malformed() }
                    let count = try reader.count()
                    var refs: [ShardRef] = []
                    for _ in 0..<count {
                        let bucket = Int(try reader.byte())
                        // Buckets are stored in increasing order, each once: anything else is damage.
                        guard refs.last.map({ $0.bucket < bucket }) ?? true else { throw Reader.Malformed() }
                        let hash = try reader.hash()
                        refs.append(
                            ShardRef(
                                bucket: bucket, hash: hash, entries: try reader.int64(), size: try reader.int64(),
                                files: try reader.int64()))
                    }
                    try reader.expectEnd()
                    return .sharded(depth: depth, key: key, refs)
                }
            }
        } catch is Reader.Malformed {
            throw VigilError(
                .corruptData, "tree node \(hash.hex) is malformed; run `vigil fsck` to see what it affects",
                value: hash.hex)
        }
    }

    private static func appendVarint(_ value: UInt64, to out: inout [UInt8]) {
        var value = value
        while value >= 0x80 {
            out.append(UInt8(value & 0x7F) | 0x80)
            value >>= 7
        }
        out.append(UInt8(value))
    }

    private struct Reader {
        struct Malformed: Error {}
        let raw: UnsafeRawBufferPointer
        var offset = 0

        init(raw: UnsafeRawBufferPointer) {
            self.raw = raw
        }

        mutating func byte() throws -> UInt8 {
            guard offset < raw.count else { throw Malformed() }
            defer { offset += 1 }
            return raw[offset]
        }

        mutating func varint() throws -> UInt64 {
            var result: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                let next = try byte()
                guard shift < 64 else { throw Malformed() }
                result |= UInt64(next & 0x7F) << shift
                if next < 0x80 { return result }
                shift += 7
            }
        }

        mutating func int64() throws -> Int64 {
            let value = try varint()
            guard value <= UInt64(Int64.max) else { throw Malformed() }
            return Int64(value)
        }

        /// A length or count, bounded by the bytes left so a corrupt count cannot ask for a huge allocation.
        mutating func count() throws -> Int {
            let value = try varint()
            guard value <= UInt64(raw.count - offset) else { throw Malformed() }
            return Int(value)
        }

        mutating func string(length: Int) throws -> String {
            guard length <= raw.count - offset else { throw Malformed() }
            defer { offset += length }
            return String(decoding: UnsafeRawBufferPointer(rebasing: raw[offset..<offset + length]), as: UTF8.self)
        }

        mutating func hash() throws -> BlobHash {
            guard raw.count - offset >= 32 else { throw Malformed() }
            defer { offset += 32 }
            return BlobHash(raw: raw, at: offset)
        }

        func expectEnd() throws {
            guard offset == raw.count else { throw Malformed() }
        }
    }
}
