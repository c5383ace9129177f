/// A place in the store, written as Pachyderm writes it: `repo`, `repo@ref`, `repo:/path` or `repo@ref:/path`.
/// `ref` is a branch, a commit id or a unique prefix of one (at least 4 hex digits), optionally followed by
/// `^N` or repeated `^` for the N-th ancestor.
public struct Address: Sendable, Hashable, CustomStringConvertible {
    public var repo: String
    /// The ref as written, or nil for the repo's default branch.
    public var ref: String?
    /// A normalised absolute path; `/` when none was given.
    public var path: String

    public init(repo: String, ref: String? = nil, path: String = "/") {
        self.repo = repo
        self.ref = ref
        self.path = path
    }

    public static func parse(_ text: String) throws -> Address {
        let repoEnd = text.firstIndex(where: { $0 == "@" || $0 == ":" }) ?? text.endIndex
        let repo = String(text[..<repoEnd])
        try Names.validateRepo(repo, in: text)
        var rest = text[repoEnd...]
        var ref: String?
        if rest.first == "@" {
            rest = rest.dropFirst()
            let refEnd = rest.firstIndex(of: ":") ?? rest.endIndex
            let refText = String(rest[..<refEnd])
            guard !refText.isEmpty else {
                throw VigilError(.badAddress, "'\(text)' has an empty ref after '@'; write repo@branch", value: text)
            }
            _ = try RefSpec.parse(refText, address: text)
            ref = refText
            rest = rest[refEnd...]
        }
        var path = "/"
        if rest.first == ":" {
            let pathText = String(rest.dropFirst())
            do {
                path = try StorePath.normalize(pathText)
            } catch let error as VigilError {
                throw VigilError(.badAddress, "'\(text)': \(error.message)", value: text)
            }
        } else if !rest.isEmpty {
            throw VigilError(.badAddress, "cannot read address '\(text)'; write repo@ref:/path", value: text)
        }
        return Address(repo: repo, ref: ref, path: path)
    }

    public var description: String {
        var text = repo
        if let ref { text += "@" + ref }
        if path != "/" { text += ":" + path }
        return text
    }
}

/// A ref split into its base (branch or commit prefix) and how many parents back to go.
struct RefSpec: Sendable, Hashable {
    var base: String
    var ancestors: Int

    /// How far back a ref may walk: each step reads a commit, and a ref comes from users and URLs (an
    /// unbounded `^N` is a request that reads the whole history). Older commits are named by their id.
    static let maximumAncestors = 10_000

    static func parse(_ text: String, address: String) throws -> RefSpec {
        guard let caret = text.firstIndex(of: "^") else {
            try Names.validateBranch(text, in: address)
            return RefSpec(base: text, ancestors: 0)
        }
        let base = String(text[..<caret])
        try Names.validateBranch(base, in: address)
        var ancestors = 0
        var rest = text[caret...]
        while rest.first == "^" {
            rest = rest.dropFirst()
            let digits = rest.prefix(while: { $0.isASCII && $0.isNumber })
            rest = rest.dropFirst(digits.count)
            if digits.isEmpty {
                ancestors += 1
            } else if let count = Int(digits), count <= maximumAncestors {
                ancestors += count
            } else {
                ancestors = maximumAncestors + 1
            }
            guard ancestors <= maximumAncestors else {
                throw VigilError(
                    .badAddress,
                    "'\(text)' goes back more than \(maximumAncestors) commits; name an older commit by its id "
                        + "(vigil log shows them)", value: address)
            }
        }
        guard rest.isEmpty else {
            throw VigilError(.badAddress, "cannot read ref '\(text)'; write branch^N or a commit id", value: address)
        }
        return RefSpec(base: base, ancestors: ancestors)
    }
}

/// The names users choose: repos and branches.
public enum Names {
    /// Repo names: letters, digits, `_` and `-`, starting with a letter or digit, at most 63 characters.
    public static func validateRepo(_ name: String, in context: String? = nil) throws {
        guard isValid(name, extra: "_-") else {
            let whereText = context.flatMap { $0 == name ? nil : " in '\($0)'" } ?? ""
            throw VigilError(
                .badName,
                "'\(name)'\(whereText) is not a valid repo name: use 1-63 letters, digits, '_' or '-', "
                    + "starting with a letter or digit",
                value: name)
        }
    }

    /// Branch names: letters, digits, `_`, `-` and `.`, starting with a letter or digit, at most 63 characters.
    public static func validateBranch(_ name: String, in context: String? = nil) throws {
        guard isValid(name, extra: "_-.") else {
            let whereText = context.flatMap { $0 == name ? nil : " in '\($0)'" } ?? ""
            throw VigilError(
                .badName,
                "'\(name)'\(whereText) is not a valid branch or commit: use 1-63 letters, digits, '_', '-' or '.', "
                    + "starting with a letter or digit",
                value: name)
        }
    }

    private static func isValid(_ name: String, extra: String) -> Bool {
        guard let first = name.unicodeScalars.first, name.unicodeScalars.count <= 63 else { return false }
        func plain(_ scalar: Unicode.Scalar) -> Bool {
            scalar.isASCII
                && (("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar))
        }
        return plain(first) && name.unicodeScalars.allSatisfy { plain($0) || extra.unicodeScalars.contains($0) }
    }
}
