import Foundation
import Testing
import VigilStore

/// One suite, run against every `MetadataStore` implementation: a new implementation joins `MetadataStoreKind`.
enum MetadataStoreKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqliteFile
    case sqliteMemory

    var testDescription: String { rawValue }

    func make() throws -> (any MetadataStore, @Sendable () -> Void) {
        switch self {
        case .sqliteFile:
            let folder = try TemporaryFolder()
            return (
                try SQLiteMetadataStore(path: folder.url.appendingPathComponent("m.sqlite").path), { folder.remove() }
            )
        case .sqliteMemory:
            return (try SQLiteMetadataStore(), {})
        }
    }
}

private func commit(
    _ id: String, repo: String = "images", branch: String = "master", parent: String?,
    inputs: [CommitReference] = [], origin: String? = nil
) -> CommitInfo {
    CommitInfo(
        id: id, repo: repo, branch: branch, parent: parent,
        tree: TreeRoot(hash: BlobHash(of: Data(id)), size: 10, files: 1), author: "test", message: "m \(id)",
        provenance: Provenance(inputs: inputs, origin: origin), started: Date(timeIntervalSince1970: 1_000),
        finished: Date(timeIntervalSince1970: 2_000))
}

@Suite("MetadataStore conformance")
struct MetadataStoreConformanceTests {
    @Test(arguments: MetadataStoreKind.allCases)
    func reposAreCreatedListedAndDeleted(kind: MetadataStoreKind) async throws {
        let (store, cleanup) = try kind.make()
        defer { cleanup() }
        let created = Date(timeIntervalSince1970: 1_700_000_000)
        try await store.createRepo(
            RepoInfo(name: "images", description: "camera frames", created: created), defaultBranch: "master")
        try await store.createRepo(RepoInfo(name: "detect", created: created), defaultBranch: "master")
        #expect(try await store.repos().map(\.name) == ["detect", "images"])
        #expect(
            try await store.repo(named: "images")
                == RepoInfo(name: "images", description: "camera frames", created: created))
        #expect(try await store.branches(in: "images") == [BranchInfo(repo: "images", name: "master", head: nil)])

        let duplicate = await #expect(throws: VigilError.self) {
            try await store.createRepo(RepoInfo(name: "images", created: created), defaultBranch: "master")
        }
        #expect(duplicate?.code == .repoExists)

        try await store.deleteRepo(named: "images")
        #expect(try await store.repo(named: "images") == nil)
        #expect(try await store.branches(in: "images").isEmpty)
        let missing = await #expect(throws: VigilError.self) { try await store.deleteRepo(named: "images") }
        #expect(missing?.code == .repoNotFound)
    }

    @Test(arguments: MetadataStoreKind.allCases)
    func appendCommitMovesTheHeadOnlyByCompareAndSwap(kind: MetadataStoreKind) async throws {
        let (store, cleanup) = try kind.make()
        defer { cleanup() }
        try await store.createRepo(RepoInfo(name: "images", created: Date()), defaultBranch: "master")
        #expect(try await store.appendCommit(commit("c1", parent: nil), expectedHead: nil))
        #expect(try await store.branch("master", in: "images")?.head == "c1")

        // A writer that still believes the branch is empty loses, and leaves no trace.
        #expect(try await !store.appendCommit(commit("c2", parent: nil), expectedHead: nil))
        #expect(try await store.commit(id: "c2") == nil)
        #expect(try await store.branch("master", in: "images")?.head == "c1")

        var withMeta = commit("c2", parent: "c1")
        withMeta.meta = TreeRoot(hash: BlobHash(of: Data("meta")), size: 42, files: 3)
        #expect(try await store.appendCommit(withMeta, expectedHead: "c1"))
        #expect(try await store.commit(id: "c2") == withMeta)
        #expect(try await store.commit(id: "c1")?.meta == nil)
        #expect(try await store.allCommits(in: "images").map(\.id).sorted() == ["c1", "c2"])

        let noBranch = await #expect(throws: VigilError.self) {
            try await store.appendCommit(commit("c3", branch: "dev", parent: nil), expectedHead: nil)
        }
        #expect(noBranch?.code == .branchNotFound)
    }

    @Test(arguments: MetadataStoreKind.allCases)
    func aCommitReleasesItsWritersLeaseOnlyWhenItLands(kind: MetadataStoreKind) async throws {
        let (store, cleanup) = try kind.make()
        defer { cleanup() }
        try await store.createRepo(RepoInfo(name: "images", created: Date()), defaultBranch: "master")
        #expect(try await store.appendCommit(commit("c1", parent: nil), expectedHead: nil))
        let lease = try await store.acquireLease(holder: "writer", now: Date())
        // A lost compare-and-swap keeps the lease: the writer retries and its blobs stay protected.
        #expect(try await !store.appendCommit(commit("c2", parent: nil), expectedHead: nil, releasingLease: lease.id))
        #expect(try await store.leases().map(\.id) == [lease.id])
        #expect(try await store.appendCommit(commit("c2", parent: "c1"), expectedHead: "c1", releasingLease: lease.id))
        #expect(try await store.leases().isEmpty)
    }

    @Test(arguments: MetadataStoreKind.allCases)
    func concurrentAppendsHaveExactlyOneWinnerPerHead(kind: MetadataStoreKind) async throws {
        let (store, cleanup) = try kind.make()
        defer { cleanup() }
        try await store.createRepo(RepoInfo(name: "images", created: Date()), defaultBranch: "master")
        let wins = try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<16 {
                group.addTask { try await store.appendCommit(commit("racer\(index)", parent: nil), expectedHead: nil) }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(wins == 1)
        #expect(try await store.allCommits(in: "images").count == 1)
    }

    @Test(arguments: MetadataStoreKind.allCases)
    func branchesFollowTheirExpectations(kind: MetadataStoreKind) async throws {
        let (store, cleanup) = try kind.make()
        defer { cleanup() }
        try await store.createRepo(RepoInfo(name: "images", created: Date()), defaultBranch: "master")
        #expect(try await store.appendCommit(commit("c1", parent: nil), expectedHead: nil))
        #expect(try await store.setBranch("dev", in: "images", head: "c1", expected: .absent))
        #expect(try await !store.setBranch("dev", in: "images", head: nil, expected: .absent))
        #expect(try await !store.setBranch("dev", in: "images", head: nil, expected: .head("elsewhere")))
        #expect(try await store.setBranch("dev", in: "images", head: nil, expected: .head("c1")))
        #expect(try await store.branch("dev", in: "images")?.head == nil)
        #expect(try await store.setBranch("dev", in: "images", head: "c1", expected: .any))
        let unknownCommit = await #expect(throws: VigilError.self) {
            try await store.setBranch("dev", in: "images", head: "nope", expected: .any)
        }
        #expect(unknownCommit?.code == .commitNotFound)
        try await store.deleteBranch("dev", in: "images")
        #expect(try await store.branch("dev", in: "images") == nil)
        #expect(try await store.commit(id: "c1") != nil)
    }

    @Test(arguments: MetadataStoreKind.allCases)
    func commitsAreFoundByUniquePrefixWithinTheirRepo(kind: MetadataStoreKind) async throws {
        let (store, cleanup) = try kind.make()
        defer { cleanup() }
        try await store.createRepo(RepoInfo(name: "images", created: Date()), defaultBranch: "master")
        try await store.createRepo(RepoInfo(name: "other", created: Date()), defaultBranch: "master")
        #expect(try await store.appendCommit(commit("abc123", parent: nil), expectedHead: nil))
        #expect(try await store.appendCommit(commit("abd456", parent: "abc123"), expectedHead: "abc123"))
        #expect(try await store.appendCommit(commit("abc999", repo: "other", parent: nil), expectedHead: nil))
        #expect(try await store.commits(withPrefix: "abc", in: "images", limit: 5).map(\.id) == ["abc123"])
        #expect(try await store.commits(withPrefix: "ab", in: "images", limit: 5).count == 2)
        #expect(try await store.commits(withPrefix: "ff", in: "images", limit: 5).isEmpty)
    }

    @Test(arguments: MetadataStoreKind.allCases)
    func provenanceIsStoredAndSubvenanceFindsTheOutputs(kind: MetadataStoreKind) async throws {
        let (store, cleanup) = try kind.make()
        defer { cleanup() }
        for name in ["images", "rules", "threats"] {
            try await store.createRepo(RepoInfo(name: name, created: Date()), defaultBranch: "master")
        }
        #expect(try await store.appendCommit(commit("i1", parent: nil), expectedHead: nil))
        #expect(try await store.appendCommit(commit("r1", repo: "rules", parent: nil), expectedHead: nil))
        let inputs = [CommitReference(repo: "images", commit: "i1"), CommitReference(repo: "rules", commit: "r1")]
        let output = commit("t1", repo: "threats", parent: nil, inputs: inputs, origin: "pipeline:threats spec=abc")
        #expect(try await store.appendCommit(output, expectedHead: nil))
        #expect(
            try await store.commit(id: "t1")?.provenance
                == Provenance(inputs: inputs, origin: "pipeline:threats spec=abc"))
        #expect(try await store.subvenance(of: inputs[0]) == [CommitReference(repo: "threats", commit: "t1")])
        #expect(try await store.subvenance(of: CommitReference(repo: "threats", commit: "t1")).isEmpty)
    }

    @Test(arguments: MetadataStoreKind.allCases)
    func leasesAreAcquiredRenewedAndReleased(kind: MetadataStoreKind) async throws {
        let (store, cleanup) = try kind.make()
        defer { cleanup() }
        let start = Date(timeIntervalSince1970: 5_000)
        let lease = try await store.acquireLease(holder: "writer", now: start)
        try await store.renewLease(lease.id, now: start.addingTimeInterval(30))
        let listed = try await store.leases()
        #expect(listed.count == 1)
        #expect(listed.first?.started == start)
        #expect(listed.first?.heartbeat == start.addingTimeInterval(30))
        try await store.releaseLease(lease.id)
        #expect(try await store.leases().isEmpty)
    }
}
