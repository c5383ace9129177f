import Foundation

/// The naming contract of uploaded images: `<deviceId>-<unixSeconds>.<jpg|jpeg|png>` (docs/CONTRACT.md).
/// The device id has no `-`, so the last `-` splits; the time is seconds since the epoch, UTC.
public struct ImageName: Sendable, Hashable, Codable, CustomStringConvertible {
    public var device: String
    public var seconds: Int64
    public var fileExtension: String

    public var time: Date { Date(timeIntervalSince1970: TimeInterval(seconds)) }
    public var description: String { "\(device)-\(seconds).\(fileExtension)" }
    /// The name without its extension: what records are named after.
    public var stem: String { "\(device)-\(seconds)" }

    static let extensions = ["jpg", "jpeg", "png"]
    /// Seconds past this (the year 2286) are not a time a camera sends.
    static let maxSeconds: Int64 = 9_999_999_999

    /// The frame a stored file belongs to, read from its path's last component: the upload itself
    /// (`cam1-1700000000.jpg`) and every file made from it (`cam1-1700000000.jpg.json`,
    /// `cam1-1700000000.jpg.reason.json`) give `cam1` and `1700000000`; nil for any other file. The device is
    /// all before the first `-` that digits and `.jpg`, `.jpeg` or `.png` follow (then the end or a `.`), so a
    /// device id with dots (`porch.east-1700000000.jpg`) reads whole.
    public static func frame(ofPath path: String) -> (device: String, seconds: Int64)? {
        guard let name = path.split(separator: "/").last else { return nil }
        // Read byte by byte: an erasure or retention walk asks this of every file in history (a million and
        // more). The bytes looked for are ASCII, which never occurs inside a longer UTF-8 sequence.
        let bytes = Array(name.utf8)
        var dash = 1
        while dash < bytes.count {
            defer { dash += 1 }
            guard bytes[dash] == UInt8(ascii: "-") else { continue }
            var end = dash + 1
            while end < bytes.count, bytes[end] >= UInt8(ascii: "0"), bytes[end] <= UInt8(ascii: "9") { end += 1 }
            guard end > dash + 1, end < bytes.count, bytes[end] == UInt8(ascii: "."),
                extensionBytes.contains(where: { suffix in
                    let stop = end + 1 + suffix.count
                    return stop <= bytes.count && bytes[(end + 1)..<stop].elementsEqual(suffix)
                        && (stop == bytes.count || bytes[stop] == UInt8(ascii: "."))
                })
            else { continue }
            guard let seconds = Int64(String(decoding: bytes[(dash + 1)..<end], as: UTF8.self)) else { return nil }
            return (String(decoding: bytes[..<dash], as: UTF8.self), seconds)
        }
        return nil
    }

    private static let extensionBytes = extensions.map { Array($0.utf8) }

    /// Parses a file name (not a path). Every way it can be wrong has its own code.
    public static func parse(_ name: String) throws(NameError) -> ImageName {
        guard !name.isEmpty else { throw NameError(.emptyName, "the name is empty", name) }
        if name.contains("/") || name.contains("\\") || name.contains("\0") {
            let traversal = name.split(whereSeparator: { $0 == "/" || $0 == "\\" }).contains { $0 == ".." || $0 == "." }
            throw NameError(
                traversal ? .pathTraversal : .pathSeparator,
                traversal
                    ? "the name tries to leave its folder ('..'); send a plain file name such as cam1-1700000000.jpg"
                    : "a name cannot contain '/', '\\' or NUL; send a plain file name such as cam1-1700000000.jpg",
                name)
        }
        guard let dot = name.lastIndex(of: ".") else {
            throw NameError(.unknownExtension, "the name has no extension; end it in .jpg, .jpeg or .png", name)
        }
        let fileExtension = String(name[name.index(after: dot)...])
        guard extensions.contains(fileExtension) else {
            let hint = extensions.contains(fileExtension.lowercased()) ? " (in lower case)" : ""
            throw NameError(
                .unknownExtension, "'.\(fileExtension)' is not an image extension here; use .jpg, .jpeg or .png\(hint)",
                name)
        }
        let stem = name[..<dot]
        guard let dash = stem.lastIndex(of: "-") else {
            throw NameError(
                .missingTimestamp, "the name has no '-<unixSeconds>'; name images <deviceId>-<unixSeconds>.jpg", name)
        }
        let device = String(stem[..<dash])
        let digits = stem[stem.index(after: dash)...]
        guard isValidDevice(device) else {
            throw NameError(
                .badDeviceID,
                "'\(device)' is not a device id: 1-64 letters, digits, '_' or '.', starting with a letter or digit, "
                    + "no '-'", name)
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), digits.count <= 10,
            let seconds = Int64(digits), seconds <= maxSeconds
        else {
            throw NameError(
                .badTimestamp, "'\(digits)' is not a time: give whole seconds since 1970-01-01 UTC, e.g. 1700000000",
                name)
        }
        return ImageName(device: device, seconds: seconds, fileExtension: fileExtension)
    }

    /// Whether `device` is a device id of the naming contract: 1-64 letters, digits, `_` or `.`, no `-`.
    public static func isValidDevice(_ device: String) -> Bool {
        guard let first = device.unicodeScalars.first, device.unicodeScalars.count <= 64 else { return false }
        func plain(_ scalar: Unicode.Scalar) -> Bool {
            scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar))
        }
        return plain(first) && device.unicodeScalars.allSatisfy { plain($0) || $0 == "_" || $0 == "." }
    }
}

/// Why a name breaks the contract: a stable code, a sentence saying how to fix it, and the name.
public struct NameError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Codable, CaseIterable {
        case emptyName = "empty-name"
        case pathSeparator = "path-separator"
        case pathTraversal = "path-traversal"
        case unknownExtension = "unknown-extension"
        case missingTimestamp = "missing-timestamp"
        case badDeviceID = "bad-device-id"
        case badTimestamp = "bad-timestamp"
        case futureTimestamp = "future-timestamp"
    }

    public var code: Code
    public var message: String
    public var name: String

    public init(_ code: Code, _ message: String, _ name: String) {
        self.code = code
        self.message = message
        self.name = name
    }

    public var description: String { "\(name): \(message) [\(code.rawValue)]" }
}
