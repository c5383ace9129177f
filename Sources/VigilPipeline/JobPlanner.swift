import Foundation
import VigilStore

/// Decides what a job does: which earlier datums are gone (their outputs are removed) and which datums to
/// consider (each is run unless the output's index has it).
///
/// Incremental jobs read only the inputs' diffs against the commits the last output was computed from, so
/// their cost follows the number of changed files, not the size of the repos. A full job (the first, a spec
/// change, `vigil pipeline run`, or shapes the diff cannot map: a `**` glob, several changed inputs of one
/// `cross`) lists every datum, streaming, and checks each indexed datum against the inputs by lookups.
struct JobPlanner: Sendable {
    enum Mode: Sendable, Equatable {
        /// Everything from scratch: the output starts empty (the spec changed, or there is no output yet).
        case rebuild
        /// Every datum is listed and checked against the index; stale index entries are removed.
        case full
        /// Only datums the inputs' diffs name.
        case delta
    }

    /// Datums that left and datums that arrived, as their inputs.
    typealias Delta = (removed: [[DatumInput]], added: [[DatumInput]])

    let store: VersionedStore
    let spec: PipelineSpec
    let specHash: String
    /// The commits this job reads, by input name.
    let current: [String: CommitInfo]
    /// The output commit the job starts from, and what it was computed from.
    let base: CommitInfo?
    let baseState: DatumIndex.State?
    /// Commits the base was computed from, by input name (delta jobs diff against them).
    let previous: [String: CommitInfo]

    func mode(forceFull: Bool) -> Mode {
        guard let baseState, baseState.specHash == specHash, base?.meta != nil else { return .rebuild }
        return forceFull ? .full : .delta
    }

    // MARK: Delta

    /// Datums that left and datums that arrived (as their inputs), or nil when only a full listing can tell.
    func delta() async throws -> Delta? {
        try await delta(of: spec.input)
    }

    private func delta(of input: PipelineInput) async throws -> Delta? {
        switch input {
        case .pfs(let pfs):
            return try await delta(of: pfs)
        case .union(let inputs):
            var removed: [[DatumInput]] = []
            var added: [[DatumInput]] = []
            for child in inputs {
                guard let part = try await delta(of: child) else { return nil }
                removed += part.removed
                added += part.added
            }
            return (removed, added)
        case .cross(let inputs):
            var deltas: [Delta] = []
            for child in inputs {
                guard let part = try await delta(of: child) else { return nil }
                deltas.append(part)
            }
            let changed = deltas.indices.filter { !deltas[$0].removed.isEmpty || !deltas[$0].added.isEmpty }
            guard changed.count <= 1 else { return nil }
            guard let index = changed.first else { return ([], []) }
            // One input changed: its changes times every datum part of the others (unchanged, so old = new).
            let lister = DatumLister(trees: store.trees)
            var others: [[[DatumInput]]] = []
            for (position, child) in inputs.enumerated() where position != index {
                others.append(try await lister.parts(of: child, commits: current))
            }
            func product(_ changes: [[DatumInput]]) -> [[DatumInput]] {
                var result: [[DatumInput]] = [[]]
                var other = others.makeIterator()
                for position in inputs.indices {
                    let choices = position == index ? changes : other.next()!
                    result = result.flatMap { prefix in choices.map { prefix + $0 } }
                }
                return result
            }
            return (product(deltas[index].removed), product(deltas[index].added))
        }
    }

    private func delta(of pfs: PFSInput) async throws -> Delta? {
        let old = previous[pfs.name]
        let new = current[pfs.name]
        // A side input's change reprocesses nothing; new datums simply read its latest commit.
        if old?.id == new?.id || !pfs.reprocess { return ([], []) }
        let glob = try Glob(pfs.glob)
        guard let depth = glob.fixedDepth else { return nil }
        let oldRoot = old?.tree ?? TreeStore.emptyRoot
        let newRoot = new?.tree ?? TreeStore.emptyRoot
        // Every changed file lies under at most one match: the prefix of its path as deep as the glob.
        var matches: [String] = []
        var seen = Set<String>()
        // A changed file that is itself a match (a `/*` glob over files) comes with both its values: no lookup.
        var files: [String: DiffEntry] = [:]
        var under = Set<String>()
        for change in try await store.trees.diff(from: oldRoot.hash, to: newRoot.hash) {
            let components = change.path.split(separator: "/")
            guard components.count >= depth else { continue }
            let match = "/" + components.prefix(depth).joined(separator: "/")
            guard glob.matches(match) else { continue }
            if components.count == depth { files[match] = change } else { under.insert(match) }
            if seen.insert(match).inserted { matches.append(match) }
        }
        var removed: [[DatumInput]] = []
        var added: [[DatumInput]] = []
        for match in matches {
            let before: TreeEntry?
            let after: TreeEntry?
            if let change = files[match], !under.contains(match) {
                before = change.old.map { TreeEntry(name: "", value: $0) }
                after = change.new.map { TreeEntry(name: "", value: $0) }
            } else {
                before = try await store.trees.lookup(match, in: oldRoot)
                after = try await store.trees.lookup(match, in: newRoot)
            }
            if before?.hash == after?.hash { continue }
            if let before, let old {
                removed.append([DatumInput(pfs, old, match, before)])
            }
            if let after, let new {
                added.append([DatumInput(pfs, new, match, after)])
            }
        }
        return (removed, added)
    }

    // MARK: Full

    /// Index entries of the base whose datum no longer exists in the current inputs.
    func staleEntries(_ visit: (DatumIndex.Entry) async throws -> Void) async throws {
        guard let base, let meta = base.meta,
            let folder = try await store.trees.lookup("/datums", in: meta), folder.kind == .directory
        else { return }
        // Datums recorded together share one stored pack of entries: each pack is read once, not once a datum.
        var packs: [BlobHash: Data] = [:]
        try await store.trees.walkFiles(under: folder.hash, path: "/datums") { path, file in
            let data: Data
            if let known = packs[file.hash] {
                data = known
            } else {
                data = try await store.blobs.get(file.hash)
                if packs.count >= 4096 { packs.removeAll() }
                packs[file.hash] = data
            }
            let entry = try DatumIndex.entry(of: file.name, from: data, at: path)
            if try await !isLive(entry) { try await visit(entry) }
        }
    }

    private func isLive(_ entry: DatumIndex.Entry) async throws -> Bool {
        let sideInputs = spec.input.sideInputs
        for input in entry.inputs where !sideInputs.contains(input.name) {
            guard let commit = current[input.name],
                let found = try await store.trees.lookup(input.path, in: commit.tree), found.hash == input.hash
            else { return false }
        }
        return true
    }

    /// Every datum of the current inputs, streamed in path order.
    func forEachDatum(_ visit: (Datum) async throws -> Void) async throws {
        try await DatumLister(trees: store.trees).forEachDatum(
            of: spec.input, commits: current, specHash: specHash, visit)
    }
}

extension DatumInput {
    init(_ pfs: PFSInput, _ commit: CommitInfo, _ path: String, _ entry: TreeEntry) {
        self.init(
            name: pfs.name, repo: pfs.repo, commit: commit.id, path: path, kind: entry.kind, hash: entry.hash,
            size: entry.size)
    }
}
