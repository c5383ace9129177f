import Crypto
import Foundation

/// The SHA-256 of a blob's bytes: the blob's address in every `BlobStore`.
/// Stored as four words so that hashing and comparing it, done millions of times by gc and diff, is cheap.
public struct BlobHash: Hashable, Sendable, Comparable, CustomStringConvertible {
    let w0: UInt64
    let w1: UInt64
    let w2: UInt64
    let w3: UInt64

    /// Hashes `bytes` with SHA-256.
    public init(of bytes: some DataProtocol) {
        self.init(digest: SHA256.hash(data: bytes))
    }

    init(digest: SHA256.Digest) {
        var words: [UInt64] = [0, 0, 0, 0]
        digest.withUnsafeBytes { raw in
            for index in 0..<4 {
                words[index] = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: index * 8, as: UInt64.self))
            }
        }
        (w0, w1, w2, w3) = (words[0], words[1], words[2], words[3])
    }

    /// Reads 32 raw bytes at `offset`.
    init(raw: UnsafeRawBufferPointer, at offset: Int) {
        w0 = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        w1 = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))
        w2 = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: offset + 16, as: UInt64.self))
        w3 = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: offset + 24, as: UInt64.self))
    }

    /// Parses 64 lowercase or uppercase hex digits.
    public init?(hex: some StringProtocol) {
        let utf8 = Array(hex.utf8)
        guard utf8.count == 64 else { return nil }
        var words: [UInt64] = [0, 0, 0, 0]
        for (index, char) in utf8.enumerated() {
            guard let nibble = Self.nibble(char) else { return nil }
            words[index / 16] = words[index / 16] << 4 | UInt64(nibble)
        }
        (w0, w1, w2, w3) = (words[0], words[1], words[2], words[3])
    }

    private static func nibble(_ char: UInt8) -> UInt8? {
        switch char {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): char - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): char - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): char - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// The first byte: which of a store's 256 fan-out folders holds the blob (the first two hex digits).
    var fanOutIndex: Int { Int(w0 >> 56) }

    /// The 64 lowercase hex digits.
    public var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8](repeating: 0, count: 64)
        for (wordIndex, word) in [w0, w1, w2, w3].enumerated() {
            for nibbleIndex in 0..<16 {
                out[wordIndex * 16 + nibbleIndex] = digits[Int((word >> UInt64(60 - nibbleIndex * 4)) & 0xF)]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the 32 raw bytes.
    func append(to bytes: inout [UInt8]) {
        for word in [w0, w1, w2, w3] {
            withUnsafeBytes(of: word.bigEndian) { bytes.append(contentsOf: $0) }
        }
    }

    public var description: String { hex }

    public static func < (lhs: BlobHash, rhs: BlobHash) -> Bool {
        (lhs.w0, lhs.w1, lhs.w2, lhs.w3) < (rhs.w0, rhs.w1, rhs.w2, rhs.w3)
    }
}

extension BlobHash: Codable {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let hash = BlobHash(hex: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a SHA-256"))
        }
        self = hash
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(hex)
    }
}
