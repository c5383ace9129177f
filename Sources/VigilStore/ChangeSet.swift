/// What one name in a directory becomes: a new value or nothing.
public enum TreeChange: Sendable, Hashable {
    case set(TreeValue)
    case remove
}

/// Staged changes of an open commit, as a trie of directory names, so applying them touches only the
/// directories on their paths. Per name, `direct` applies first and `nested` after: removing `/a` and then
/// putting `/a/b` leaves `/a` holding only `b`, in that order, even when replayed onto a newer head.
public struct ChangeSet: Sendable {
    struct Edit: Sendable {
        var direct: TreeChange?
        var nested: ChangeSet?
    }

    var edits: [String: Edit] = [:]
    /// A whole new tree to start from (a copy onto `/`, or deleting everything), before `edits`.
    var root: TreeRoot?

    public init() {}

    public var isEmpty: Bool { edits.isEmpty && root == nil }

    /// Replaces the whole tree: what staging at `/` means.
    mutating func replaceRoot(with root: TreeRoot) {
        self.root = root
        edits = [:]
    }

    /// Stages `change` at `components` (a validated path's components, at least one).
    mutating func stage(_ change: TreeChange, at components: ArraySlice<String>, fullPath: String) throws {
        let name = components.first!
        if components.count == 1 {
            edits[name] = Edit(direct: change, nested: nil)
            return
        }
        var edit = edits[name] ?? Edit()
        if case .set(let value) = edit.direct, value.kind == .file {
            throw VigilError(
                .pathConflict, "cannot put '\(fullPath)': '\(name)' is a file in this commit", value: fullPath)
        }
        var nested = edit.nested ?? ChangeSet()
        // Drop the other references so `nested` is uniquely owned and mutated in place, not copied whole.
        edit.nested = nil
        edits[name] = nil
        try nested.stage(change, at: components.dropFirst(), fullPath: fullPath)
        edit.nested = nested
        edits[name] = edit
    }

    /// Whether anything is staged to be put at or below `components`.
    func putsSomething(under components: ArraySlice<String>) -> Bool {
        guard let name = components.first else { return !edits.isEmpty || (root.map { $0.files > 0 } ?? false) }
        guard let edit = edits[name] else { return false }
        if components.count == 1 {
            if case .set = edit.direct { return true }
            return edit.nested.map { !$0.isEmpty } ?? false
        }
        if case .set(let value) = edit.direct, value.kind == .directory { return true }
        return edit.nested?.putsSomething(under: components.dropFirst()) ?? false
    }

    /// The number of names changed directly, at every level: what a progress bar or a log line counts.
    public var count: Int {
        edits.values.reduce(root == nil ? 0 : 1) { $0 + ($1.direct == nil ? 0 : 1) + ($1.nested?.count ?? 0) }
    }
}
