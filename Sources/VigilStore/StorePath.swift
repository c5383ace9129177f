/// Paths inside a commit: absolute, `/`-separated, no `.` or `..`, no empty or over-long components.
/// Normalising here means every other layer can trust a path's shape.
public enum StorePath {
    public static let maxComponentBytes = 255
    public static let maxPathBytes = 4096

    /// Returns the canonical form (`/a/b`, or `/` for the root) or throws `bad-path` saying what is wrong.
    public static func normalize(_ raw: String) throws -> String {
        let parts = try components(raw)
        return "/" + parts.joined(separator: "/")
    }

    /// The components of a path, validated. `/` and the empty string have none.
    public static func components(_ raw: String) throws -> [String] {
        guard raw.utf8.count <= maxPathBytes else {
            throw VigilError(.badPath, "path is longer than \(maxPathBytes) bytes", value: String(raw.prefix(80)))
        }
        var parts: [String] = []
        for part in raw.split(separator: "/", omittingEmptySubsequences: true) {
            guard part != ".", part != ".." else {
                throw VigilError(.badPath, "path '\(raw)' contains '\(part)'; give a plain absolute path", value: raw)
            }
            guard !part.utf8.contains(0), !part.utf8.contains(UInt8(ascii: "\\")) else {
                throw VigilError(.badPath, "path '\(raw)' contains a NUL or backslash character", value: raw)
            }
            guard part.utf8.count <= maxComponentBytes else {
                throw VigilError(
                    .badPath, "a component of path '\(raw)' is longer than \(maxComponentBytes) bytes", value: raw)
            }
            parts.append(String(part))
        }
        return parts
    }

    /// Joins a normalised directory path and a name.
    public static func join(_ directory: String, _ name: String) -> String {
        directory == "/" ? "/" + name : directory + "/" + name
    }
}
