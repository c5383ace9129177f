import Foundation

/// Repos, branches, commits, provenance and writer leases. Implementations: `SQLiteMetadataStore` (file or
/// in memory); every implementation passes the shared conformance suite.
///
/// Branch heads move only by compare-and-swap (`appendCommit(_:expectedHead:)`), so concurrent writers never
/// lose a commit: a writer whose expectation is stale gets `false` and rebases.
public protocol MetadataStore: Sendable {
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

    /// Records `commit` and moves its branch to it, atomically, only if the branch head is `expectedHead`; in
    /// the same transaction releases the writer lease `releasingLease`, if given. Returns false (and records
    /// and releases nothing) when another writer moved the head first.
    func appendCommit(_ commit: CommitInfo, expectedHead: String?, releasingLease lease: String?) async throws -> Bool
    func commit(id: String) async throws -> CommitInfo?
    /// Commits of `repo` whose id starts with `prefix`, at most `limit`.
    func commits(withPrefix prefix: String, in repo: String, limit: Int) async throws -> [CommitInfo]
    /// Every commit (of one repo, or of all), oldest first: the roots that gc and fsck walk.
    func allCommits(in repo: String?) async throws -> [CommitInfo]
    /// Commits whose provenance names `commit` as an input.
    func subvenance(of commit: CommitReference) async throws -> [CommitReference]

    func acquireLease(holder: String, now: Date) async throws -> WriterLease
    func renewLease(_ id: String, now: Date) async throws
    func releaseLease(_ id: String) async throws
    func leases() async throws -> [WriterLease]
}

extension MetadataStore {
    public func appendCommit(_ commit: CommitInfo, expectedHead: String?) async throws -> Bool {
        try await appendCommit(commit, expectedHead: expectedHead, releasingLease: nil)
    }
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
