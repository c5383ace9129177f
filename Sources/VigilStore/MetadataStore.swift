import Foundation

/// Repos, branches, commits, provenance and writer leases. Implementations: `SQLiteMetadataStore` (file or
/// in memory); every implementation passes the shared conformance suite.
///
/// Branch heads move only by compare-and-swap (`append(_:expectedHead:releasingLease:)`), so concurrent writers
/// never lose a commit: a writer whose expectation is stale is told the head that is there now and rebases.
public protocol MetadataStore: ErasureLog {
    /// Creates a repo with an empty default branch; `VigilError.repoExists` if the name is taken.
    func createRepo(_ repo: RepoInfo, defaultBranch: String) async throws
    func repo(named name: String) async throws -> RepoInfo?
    func repos() async throws -> [RepoInfo]
    /// Deletes a repo with its branches and commits (its blobs become garbage for gc).
    func deleteRepo(named name: String) async throws

    func branch(_ name: String, in repo: String) async throws -> BranchInfo?
    func branches(in repo: String) async throws -> [BranchInfo]
    /// Creates a branch or moves it to `head`, if `expected` holds. Returns whether it was changed.
    func setBranch(_ name: String, in repo: String, head: String?, expected: BranchExpectation) async throws -> Bool
    func deleteBranch(_ name: String, in repo: String) async throws
    /// Takes a writer lease for a commit on branch `name` of `repo` and reads the branch, together (a writer
    /// needs both before it writes a blob); nil, and no lease taken, when there is no such branch.
    func leaseBranch(_ name: String, in repo: String, holder: String, now: Date) async throws -> LeasedBranch?

    /// Records `commit` and moves its branch to it, atomically, only if the branch head is `expectedHead`; in
    /// the same transaction releases the writer lease `releasingLease`, if given. When another writer moved the
    /// head first, records and releases nothing and says where the head is now, so the writer can rebase
    /// without reading the branch again; `VigilError.branchNotFound` when there is no such branch.
    func append(
        _ commit: CommitInfo, expectedHead: String?, releasingLease lease: String?
    ) async throws
        -> CommitAppend
    /// Records several commits, each moving its own branch by the compare-and-swap of `append`, in one
    /// transaction: every branch moves and every lease given is released, or nothing is recorded and the head
    /// found on the first branch that had moved is returned. A commit may build on one before it in the list.
    /// How a job and the job it handed its output to are published together (`VersionedStore.publish`).
    func append(together commits: [CommitAppendRequest]) async throws -> CommitAppend
    func commit(id: String) async throws -> CommitInfo?
    /// Commits of `repo` whose id starts with `prefix`, at most `limit`.
    func commits(withPrefix prefix: String, in repo: String, limit: Int) async throws -> [CommitInfo]
    /// Every commit (of one repo, or of all), oldest first: the roots that gc and fsck walk.
    func allCommits(in repo: String?) async throws -> [CommitInfo]
    /// Commits whose provenance names `commit` as an input.
    func subvenance(of commit: CommitReference) async throws -> [CommitReference]

    func renewLease(_ id: String, now: Date) async throws
    func releaseLease(_ id: String) async throws
    func leases() async throws -> [WriterLease]

    /// Takes the turn of periodic work that every process sharing the store would otherwise repeat
    /// (retention): for `holder`, at `now`, unless someone took `task`'s turn less than `every` seconds
    /// before. Whether this caller has the turn; of callers racing for one turn, one has it.
    func takeTurn(_ task: String, holder: String, every: Double, now: Date) async throws -> Bool

    /// Where commits may keep their small blobs' bytes instead of waiting for the blob store's barrier.
    var blobJournal: (any BlobJournal)? { get }
}

extension MetadataStore {
    /// Default: no journal; commits wait for the blob store's barrier.
    public var blobJournal: (any BlobJournal)? { nil }

    /// Whether `append` recorded `commit`.
    public func appendCommit(
        _ commit: CommitInfo, expectedHead: String?, releasingLease lease: String? = nil
    ) async throws -> Bool {
        try await append(commit, expectedHead: expectedHead, releasingLease: lease) == .appended
    }
}

/// What `MetadataStore.append` did.
public enum CommitAppend: Sendable, Hashable {
    /// The commit is recorded and its branch points at it.
    case appended
    /// Another writer moved the head first; it is now this (nil: the branch has no commit).
    case headMoved(String?)
}

/// One commit of `MetadataStore.append(together:)`: its branch moves only if its head is `expectedHead`.
public struct CommitAppendRequest: Sendable, Hashable {
    public var commit: CommitInfo
    public var expectedHead: String?
    public var releasingLease: String?

    public init(_ commit: CommitInfo, expectedHead: String?, releasingLease: String? = nil) {
        self.commit = commit
        self.expectedHead = expectedHead
        self.releasingLease = releasingLease
    }
}

/// A branch as it was when a writer lease was taken for a commit on it (made by the stores in this module).
public struct LeasedBranch: Sendable, Hashable {
    public var branch: BranchInfo
    public var lease: WriterLease
}

/// What `MetadataStore.setBranch` requires of the branch before it changes it.
public enum BranchExpectation: Sendable, Hashable {
    /// Create or move, whatever is there.
    case any
    /// Only create: fail if the branch exists.
    case absent
    /// Only move, and only if the head is this (nil: the branch exists and has no commit).
    case head(String?)
}
