/// Bytes as lowercase hex digits, without a formatter per byte (datum ids are made for every datum a job
/// considers: `String(format:)` per byte cost about as much as the rest of planning).
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    public static func lowercase(_ bytes: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// 128 random bits as 32 lowercase hex digits (from the system's `getrandom`): an id for a commit, a job, an
    /// erasure or a writer lease. Formatting Foundation's `UUID()` as text (and, for the ids that have no dashes,
    /// stripping them) was a measurable share of a small commit's CPU.
    public static func randomID() -> String {
        var generator = SystemRandomNumberGenerator()
        let high = generator.next() as UInt64
        let low = generator.next() as UInt64
        return lowercase(withUnsafeBytes(of: (high.bigEndian, low.bigEndian)) { Array($0) })
    }

    /// A random 64-bit number as hex digits (from the system's `getrandom`, no file opened): the unique part
    /// of a temporary file's name, for a file created exclusively (`O_EXCL`), so a clash fails instead of
    /// sharing a file.
    public static func randomName() -> String {
        String(UInt64.random(in: 0...UInt64.max), radix: 16)
    }
}
