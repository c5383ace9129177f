import Foundation

/// A versioned repository: a named set of branches over commits.
public struct RepoInfo: Sendable, Hashable, Codable {
    public var name: String
    public var description: String
    public var created: Date

    public init(name: String, description: String = "", created: Date) {
        self.name = name
        self.description = description
        self.created = created
    }
}

/// A branch: a movable name for a commit. `head` is nil for a branch with no commit yet.
public struct BranchInfo: Sendable, Hashable, Codable {
    public var repo: String
    public var name: String
    public var head: String?

    public init(repo: String, name: String, head: String?) {
        self.repo = repo
        self.name = name
        self.head = head
    }
}

/// A commit of another repo that an output was computed from.
public struct CommitReference: Sendable, Hashable, Codable, CustomStringConvertible {
    public var repo: String
    public var commit: String

    public init(repo: String, commit: String) {
        self.repo = repo
        self.commit = commit
    }

    public var description: String { "\(repo)@\(commit)" }
}

/// Where a commit came from: the input commits it was computed from, plus what computed it (for a pipeline,
/// its name and spec hash; for a model stage, the model's hash too). Empty for data put in by hand.
public struct Provenance: Sendable, Hashable, Codable {
    public var inputs: [CommitReference]
    /// Free-form identity of the producer, e.g. `pipeline:detect spec=3fa2… model=9c1e…`.
    public var origin: String?

    public init(inputs: [CommitReference] = [], origin: String? = nil) {
        self.inputs = inputs
        self.origin = origin
    }

    public var isEmpty: Bool { inputs.isEmpty && origin == nil }
}

/// The root of a commit's tree and the totals under it.
public struct TreeRoot: Sendable, Hashable, Codable {
    public var hash: BlobHash
    public var size: Int64
    public var files: Int64

    public init(hash: BlobHash, size: Int64, files: Int64) {
        self.hash = hash
        self.size = size
        self.files = files
    }
}

/// An immutable snapshot of a repo.
public struct CommitInfo: Sendable, Hashable, Codable {
    public var id: String
    public var repo: String
    /// The branch the commit was made on.
    public var branch: String
    public var parent: String?
    public var tree: TreeRoot
    public var author: String
    public var message: String
    public var provenance: Provenance
    /// When the commit was opened and when it was finished (published).
    public var started: Date
    public var finished: Date
    /// A second, hidden tree published atomically with `tree`: bookkeeping of whoever wrote the commit (the
    /// pipeline engine keeps its datum index here, as Pachyderm keeps meta commits). Not listed, not diffed,
    /// not matched by globs; walked by gc and fsck like `tree`. Nil when the commit has none.
    public var meta: TreeRoot?
    /// The trace each file this commit wrote belongs to, by path (a frame's upload, a datum's span): how a
    /// trace follows a frame from stage to stage and process to process. Nil when tracing was off.
    public var traces: [String: TraceHeaders]?

    public init(
        id: String, repo: String, branch: String, parent: String?, tree: TreeRoot, author: String, message: String,
        provenance: Provenance, started: Date, finished: Date, meta: TreeRoot? = nil,
        traces: [String: TraceHeaders]? = nil
    ) {
        self.id = id
        self.repo = repo
        self.branch = branch
        self.parent = parent
        self.tree = tree
        self.author = author
        self.message = message
        self.provenance = provenance
        self.started = started
        self.finished = finished
        self.meta = meta
        self.traces = traces
    }

    public var reference: CommitReference { CommitReference(repo: repo, commit: id) }
}

/// A writer's claim that it is putting blobs not yet reachable from any commit: gc keeps every blob written
/// after the oldest live lease started. A lease whose heartbeat stops (its writer died) expires.
public struct WriterLease: Sendable, Hashable, Codable {
    public var id: String
    public var holder: String
    public var started: Date
    public var heartbeat: Date

    public init(id: String, holder: String, started: Date, heartbeat: Date) {
        self.id = id
        self.holder = holder
        self.started = started
        self.heartbeat = heartbeat
    }
}
