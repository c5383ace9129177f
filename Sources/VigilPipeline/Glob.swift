import VigilStore

/// A Pachyderm glob over a commit's tree: `/` is the whole commit as one datum, `/*` each top-level entry,
/// `/valid/*` each entry of `/valid`, `/*/*` each entry one level down. Per component, `*` matches any run of
/// characters, `?` one character, `[abc]`, `[a-z]` and `[!a]` one of a set; a component `**` matches any
/// number of folders. A match may be a file or a whole folder.
public struct Glob: Sendable, Hashable, CustomStringConvertible {
    enum Component: Sendable, Hashable {
        case literal(String)
        case pattern([Character])
        case anyDepth
    }

    public let pattern: String
    let components: [Component]

    public init(_ pattern: String) throws {
        guard pattern.hasPrefix("/") else {
            throw PipelineError(
                .badGlob, "a glob starts with '/', like /, /* or /valid/*", value: pattern)
        }
        self.pattern = pattern
        components = try pattern.split(separator: "/").map { part in
            guard part != ".", part != ".." else {
                throw PipelineError(.badGlob, "a glob cannot contain '.' or '..' components", value: pattern)
            }
            if part == "**" { return .anyDepth }
            guard part.contains(where: { "*?[".contains($0) }) else { return .literal(String(part)) }
            let characters = Array(part)
            guard Self.bracketsBalanced(characters) else {
                throw PipelineError(.badGlob, "an unclosed '[' in glob component '\(part)'", value: pattern)
            }
            return .pattern(characters)
        }
    }

    public var description: String { pattern }

    /// How deep every match lies (0 for `/`), or nil when a `**` lets matches lie at any depth.
    public var fixedDepth: Int? {
        components.contains(.anyDepth) ? nil : components.count
    }

    /// Whether a path (absolute, normalised) is a match.
    public func matches(_ path: String) -> Bool {
        let parts = path.split(separator: "/").map(String.init)
        return Self.match(components[...], parts[...])
    }

    /// Calls `visit` with every matching entry under `root`: in path order within folders of up to 256 entries,
    /// in name-hash order in larger ones, whose listings are streamed node by node. Reads only the folders the
    /// glob can reach: a literal component is one lookup, not a listing.
    public func forEachMatch(
        in root: TreeRoot, trees: TreeStore, _ visit: (String, TreeEntry) async throws -> Void
    ) async throws {
        let rootEntry = TreeEntry(name: "", value: .directory(root))
        if components.contains(.anyDepth) {
            // `**` can reach one path along several routes; report each once.
            var seen = Set<String>()
            try await walk(rootEntry, "/", components[...], trees) { path, entry in
                if seen.insert(path).inserted { try await visit(path, entry) }
            }
        } else {
            try await walk(rootEntry, "/", components[...], trees, visit)
        }
    }

    private func walk(
        _ entry: TreeEntry, _ path: String, _ rest: ArraySlice<Component>, _ trees: TreeStore,
        _ visit: (String, TreeEntry) async throws -> Void
    ) async throws {
        guard let component = rest.first else {
            try await visit(path, entry)
            return
        }
        guard entry.kind == .directory else { return }
        switch component {
        case .literal(let name):
            if let child = try await trees.entry(named: name, inDirectory: entry.hash) {
                try await walk(child, StorePath.join(path, name), rest.dropFirst(), trees, visit)
            }
        case .pattern(let characters):
            // Streamed: a folder of a million images is never listed whole.
            try await trees.forEachEntry(ofDirectory: entry.hash) { child in
                if Self.matchComponent(characters[...], Array(child.name)[...]) {
                    try await walk(child, StorePath.join(path, child.name), rest.dropFirst(), trees, visit)
                }
            }
        case .anyDepth:
            try await walk(entry, path, rest.dropFirst(), trees, visit)
            for child in try await trees.entries(ofDirectory: entry.hash) where child.kind == .directory {
                try await walk(child, StorePath.join(path, child.name), rest, trees, visit)
            }
        }
    }

    // MARK: Matching names

    private static func match(_ components: ArraySlice<Component>, _ parts: ArraySlice<String>) -> Bool {
        guard let component = components.first else { return parts.isEmpty }
        switch component {
        case .anyDepth:
            return (0...parts.count).contains { match(components.dropFirst(), parts.dropFirst($0)) }
        case .literal(let name):
            return parts.first == name && match(components.dropFirst(), parts.dropFirst())
        case .pattern(let characters):
            guard let part = parts.first else { return false }
            return matchComponent(characters[...], Array(part)[...]) && match(components.dropFirst(), parts.dropFirst())
        }
    }

    /// fnmatch for one path component.
    static func matchComponent(_ pattern: ArraySlice<Character>, _ name: ArraySlice<Character>) -> Bool {
        guard let first = pattern.first else { return name.isEmpty }
        switch first {
        case "*":
            let rest = pattern.dropFirst()
            return (0...name.count).contains { matchComponent(rest, name.dropFirst($0)) }
        case "?":
            return !name.isEmpty && matchComponent(pattern.dropFirst(), name.dropFirst())
        case "[":
            guard let character = name.first else { return false }
            var members = pattern.dropFirst()
            let negated = members.first == "!"
            if negated { members = members.dropFirst() }
            // A `]` first in the set is a member, as in fnmatch; `init` has checked the set is closed.
            guard let close = members.dropFirst().firstIndex(of: "]") else { return false }
            let set = members[..<close]
            var inSet = false
            var index = set.startIndex
            while index < set.endIndex {
                let low = set[index]
                let dash = set.index(after: index)
                if dash < set.endIndex, set[dash] == "-", set.index(after: dash) < set.endIndex {
                    let high = set[set.index(after: dash)]
                    if low <= character && character <= high { inSet = true }
                    index = set.index(dash, offsetBy: 2)
                } else {
                    if low == character { inSet = true }
                    index = dash
                }
            }
            return inSet != negated && matchComponent(pattern[pattern.index(after: close)...], name.dropFirst())
        default:
            return name.first == first && matchComponent(pattern.dropFirst(), name.dropFirst())
        }
    }

    private static func bracketsBalanced(_ characters: [Character]) -> Bool {
        var index = 0
        while index < characters.count {
            if characters[index] == "[" {
                // `]` right after `[` or `[!` is a member, as in fnmatch.
                var close = index + 1
                if close < characters.count, characters[close] == "!" { close += 1 }
                close += 1
                while close < characters.count, characters[close] != "]" { close += 1 }
                guard close < characters.count else { return false }
                index = close
            }
            index += 1
        }
        return true
    }
}
