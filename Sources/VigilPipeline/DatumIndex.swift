import Foundation
import VigilStore

/// The pipeline's bookkeeping inside each output commit's hidden meta tree, published atomically with the
/// outputs (as Pachyderm keeps meta commits): `/datums/<id>` for every datum done, with the outputs it wrote,
/// and `/state.json` with the input commits and spec the commit was computed from. Because it lives in the
/// commit, "already processed" and "what to remove" can never disagree with the outputs themselves.
enum DatumIndex {
    static let statePath = "/state.json"

    static func path(of datum: String) -> String { "/datums/\(datum)" }

    /// A done datum: what it read (to tell later whether it still exists) and what it wrote (to remove it).
    struct Entry: Sendable, Hashable, Codable {
        struct Input: Sendable, Hashable, Codable {
            var name: String
            var path: String
            var hash: BlobHash
        }

        var datum: String
        var job: String
        var inputs: [Input]
        var outputs: [OutputFile]
    }

    /// What an output commit was computed from.
    struct State: Sendable, Hashable, Codable {
        var job: String
        var specHash: String
        /// Input name → commit id (absent: the input's branch had no commit).
        var inputs: [String: String]
        /// What the job did: lets a job whose engine died right after its commit be recorded as it ended.
        var counts: JobCounts
    }

    static func entry(_ datum: Datum, job: String, outputs: [OutputFile]) -> Entry {
        Entry(
            datum: datum.id, job: job,
            inputs: datum.inputs.map { Entry.Input(name: $0.name, path: $0.path, hash: $0.hash) },
            outputs: outputs)
    }

    static func encode(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(value)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ data: Data, at path: String) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch {
            throw PipelineError(.io, "the datum index entry \(path) cannot be read: \(error)", value: path)
        }
    }

    /// The index entries of several datums as one blob: what a worker stores for the datums it records
    /// together (one write to the blob store instead of one each). Each datum's `/datums/<id>` points at the
    /// pack, and a reader picks its entry by id (`entry(of:from:at:)`).
    static func encodePack(_ entries: [Entry]) throws -> Data {
        try encode(entries.sorted { $0.datum < $1.datum })
    }

    /// The entry of `datum` in a stored index blob: one entry, or a pack of them.
    static func entry(of datum: String, from data: Data, at path: String) throws -> Entry {
        guard data.first == UInt8(ascii: "[") else {
            return try decode(Entry.self, data, at: path)
        }
        guard let entry = try decode([Entry].self, data, at: path).first(where: { $0.datum == datum }) else {
            throw PipelineError(
                .io, "the datum index entry \(path) points at a pack without datum \(datum)", value: path)
        }
        return entry
    }

    /// Output commits' states by the hash of their meta tree. Every step of a pipeline reads its output head's
    /// state (a blob read and a JSON decode), and between two jobs it is the same one, which the job that made
    /// the commit already had in hand. Content-addressed, so an entry is never stale, whichever store or process
    /// made it.
    private static let states = GenerationalCache<BlobHash, State>(capacity: 256)

    /// The state `commit` was computed from (nil: not a pipeline's output, or made before any job).
    static func state(of commit: CommitInfo?, in store: VersionedStore) async throws -> State? {
        guard let commit, let meta = commit.meta else { return nil }
        if let known = states.value(for: meta.hash) { return known }
        guard let data = try await store.readMeta(commit, statePath) else { return nil }
        let state = try decode(State.self, data, at: statePath)
        states.insert(state, for: meta.hash)
        return state
    }

    /// Keeps `state`, just written into `commit`, for the next step to read.
    static func remember(_ state: State, of commit: CommitInfo) {
        if let meta = commit.meta { states.insert(state, for: meta.hash) }
    }

    static func contains(_ datum: String, in commit: CommitInfo?, store: VersionedStore) async throws -> Bool {
        guard let meta = commit?.meta else { return false }
        return try await store.trees.lookup(path(of: datum), in: meta) != nil
    }

    static func entry(_ datum: String, in commit: CommitInfo?, store: VersionedStore) async throws -> Entry? {
        guard let commit, let data = try await store.readMeta(commit, path(of: datum)) else { return nil }
        return try entry(of: datum, from: data, at: path(of: datum))
    }
}
