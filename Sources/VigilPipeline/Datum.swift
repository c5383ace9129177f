import Crypto
import Foundation
import VigilStore

/// One input's part of a datum: a file or folder of an input commit.
public struct DatumInput: Sendable, Hashable, Codable {
    /// The input's name (`/pfs/<name>`).
    public var name: String
    public var repo: String
    public var commit: String
    public var path: String
    public var kind: TreeEntry.Kind
    /// The file's content hash, or the folder's tree hash: what makes the datum's identity content-based.
    public var hash: BlobHash
    public var size: Int64

    public init(
        name: String, repo: String, commit: String, path: String, kind: TreeEntry.Kind, hash: BlobHash, size: Int64
    ) {
        self.name = name
        self.repo = repo
        self.commit = commit
        self.path = path
        self.kind = kind
        self.hash = hash
        self.size = size
    }
}

/// The unit of work: one match of each input (for `cross`, one of each combination; for `union`, one match
/// of one input). Its id depends on the matched paths, their content and the pipeline's spec hash, not on
/// commit ids: the same bytes at the same path in a later commit are the same datum, already done.
public struct Datum: Sendable, Hashable, Codable {
    public var id: String
    public var inputs: [DatumInput]
    /// The trace of the frame it came from, when tracing is on: not part of what the datum is.
    public var trace: CommittedTrace?

    /// `sideInputs` (input names) are read by the datum but not part of its identity.
    public init(inputs: [DatumInput], specHash: String, sideInputs: Set<String> = []) {
        self.inputs = inputs
        var hasher = SHA256()
        hasher.update(data: Data("vigil-datum-1\n\(specHash)\n".utf8))
        for input in inputs where !sideInputs.contains(input.name) {
            hasher.update(data: Data("\(input.name)\t\(input.path)\t\(input.hash.hex)\n".utf8))
        }
        id = Hex.lowercase(hasher.finalize())
    }

    public static func == (lhs: Datum, rhs: Datum) -> Bool { lhs.id == rhs.id && lhs.inputs == rhs.inputs }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(id)
        hasher.combine(inputs)
    }
}

/// Lists the datums of a pipeline's input over given input commits.
public struct DatumLister: Sendable {
    public let trees: TreeStore

    public init(trees: TreeStore) {
        self.trees = trees
    }

    /// The datums of `input`, given the commit each `pfs` input reads (by input name; an input with no commit
    /// yet has no datums, and a `cross` with it has none either). Ordered by path, combinations in order.
    public func datums(
        of input: PipelineInput, commits: [String: CommitInfo], specHash: String
    ) async throws
        -> [Datum]
    {
        try await parts(of: input, commits: commits).map {
            Datum(inputs: $0, specHash: specHash, sideInputs: input.sideInputs)
        }
    }

    func parts(of input: PipelineInput, commits: [String: CommitInfo]) async throws -> [[DatumInput]] {
        switch input {
        case .pfs(let pfs):
            guard let commit = commits[pfs.name] else { return [] }
            var matches: [[DatumInput]] = []
            try await Glob(pfs.glob).forEachMatch(in: commit.tree, trees: trees) { path, entry in
                matches.append([
                    DatumInput(
                        name: pfs.name, repo: pfs.repo, commit: commit.id, path: path, kind: entry.kind,
                        hash: entry.hash, size: entry.size)
                ])
            }
            return matches
        case .union(let inputs):
            var all: [[DatumInput]] = []
            for child in inputs { all += try await parts(of: child, commits: commits) }
            return all
        case .cross(let inputs):
            var product: [[DatumInput]] = [[]]
            for child in inputs {
                let next = try await parts(of: child, commits: commits)
                product = product.flatMap { prefix in next.map { prefix + $0 } }
                if product.isEmpty { return [] }
            }
            return product
        }
    }

    /// Every datum of `input`, streamed: one `pfs` input (or the first of a `cross`, or each of a `union`) is
    /// walked as the glob finds matches rather than listed first, so memory follows the other inputs only.
    func forEachDatum(
        of input: PipelineInput, commits: [String: CommitInfo], specHash: String, _ visit: (Datum) async throws -> Void
    ) async throws {
        let sideInputs = input.sideInputs
        try await forEachPart(of: input, commits: commits) {
            try await visit(Datum(inputs: $0, specHash: specHash, sideInputs: sideInputs))
        }
    }

    private func forEachPart(
        of input: PipelineInput, commits: [String: CommitInfo], _ visit: ([DatumInput]) async throws -> Void
    ) async throws {
        switch input {
        case .pfs(let pfs):
            guard let commit = commits[pfs.name] else { return }
            try await Glob(pfs.glob).forEachMatch(in: commit.tree, trees: trees) { path, entry in
                try await visit([DatumInput(pfs, commit, path, entry)])
            }
        case .union(let inputs):
            for child in inputs { try await forEachPart(of: child, commits: commits, visit) }
        case .cross(let inputs):
            guard let first = inputs.first else { return }
            var rest: [[DatumInput]] = [[]]
            for child in inputs.dropFirst() {
                let next = try await parts(of: child, commits: commits)
                rest = rest.flatMap { prefix in next.map { prefix + $0 } }
                if rest.isEmpty { return }
            }
            try await forEachPart(of: first, commits: commits) { part in
                for combination in rest { try await visit(part + combination) }
            }
        }
    }
}
