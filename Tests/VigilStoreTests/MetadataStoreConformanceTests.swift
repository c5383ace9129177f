import Foundation
import ServerTestSupport
import Testing
import VigilStore

/// One suite, run against every `MetadataStore` implementation: a new implementation joins `MetadataStoreKind`.
enum MetadataStoreKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqliteFile
    case sqliteMemory
    /// `PostgresMetadataStore` on a real PostgreSQL (a fresh database per test), when Debian's server is there
    /// or on CI.
    case postgres

    var testDescription: String { rawValue }

    /// The kinds that run here (see `PostgresServer.canRun`).
    static let testable: [MetadataStoreKind] = PostgresServer.canRun ? allCases : [.sqliteFile, .sqliteMemory]

    /// The kinds where a second, separate store object (another process's view) can open the same database.
    static let shareable = testable.filter { $0 != .sqliteMemory }

    /// Runs `body` with a fresh, empty store; for shareable kinds, with a second store on the same database,
    /// as another process would open it.
    func withStores(_ body: @Sendable (any MetadataStore, (any MetadataStore)?) async throws -> Void) async throws {
        switch self {
        case .sqliteFile:
            let folder = try TemporaryFolder()
            defer { folder.remove() }
            let path = folder.url.appendingPathComponent("m.sqlite").path
            try await body(try SQLiteMetadataStore(path: path), try SQLiteMetadataStore(path: path))
        case .sqliteMemory:
            try await body(try SQLiteMetadataStore(), nil)
        case .postgres:
            let server = try await PostgresServer.shared()
            try await server.withDatabase(schemas: [PostgresMetadataStore.schema], logger: .test) { database in
                try await PostgresServer.withClient(
                    database.location, environment: server.environment, logger: .test
                ) { other in
                    try await body(PostgresMetadataStore(database: database), PostgresMetadataStore(database: other))
                }
            }
        }
    }

    func withStore(_ body: @Sendable (any MetadataStore) async throws -> Void) async throws {
        try await withStores { store, _ in try await body(store) }
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
    @Test(arguments: MetadataStoreKind.testable)
    func reposAreCreatedListedAndDeleted(kind: MetadataStoreKind) async throws {
        try await kind.withStore { store in
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
    }

    @Test(arguments: MetadataStoreKind.testable)
    func appendCommitMovesTheHeadOnlyByCompareAndSwap(kind: MetadataStoreKind) async throws {
        try await kind.withStore { store in
            try await store.createRepo(RepoInfo(name: "images", created: Date()), defaultBranch: "master")
            #expect(try await store.appendCommit(commit("c1", parent: nil), expectedHead: nil))
            #expect(try await store.branch("master", in: "images")?.head == "c1")

            // A writer that still believes the branch is empty loses, leaves no trace, and learns the head.
            #expect(
                try await store.append(commit("c2", parent: nil), expectedHead: nil, releasingLease: nil)
                    == .headMoved("c1"))
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
    }

    @Test(arguments: MetadataStoreKind.testable)
    func aCommitReleasesItsWritersLeaseOnlyWhenItLands(kind: MetadataStoreKind) async throws {
        try await kind.withStore { store in
            try await store.createRepo(RepoInfo(name: "images", created: Date()), defaultBranch: "master")
            #expect(try await store.appendCommit(commit("c1", parent: nil), expectedHead: nil))
            let lease = try #require(
                try await store.leaseBranch("master", in: "images", holder: "writer", now: Date())
            ).lease
            // A lost compare-and-swap keeps the lease: the writer retries and its blobs stay protected.
            #expect(
                try await !store.appendCommit(commit("c2", parent: nil), expectedHead: nil, releasingLease: lease.id))
            #expect(try await store.leases().map(\.id) == [lease.id])
            #expect(
                try await store.appendCommit(commit("c2", parent: "c1"), expectedHead: "c1", releasingLease: lease.id))
            #expect(try await store.leases().isEmpty)
        }
    }

    @Test(arguments: MetadataStoreKind.testable)
    func leasingABranchReadsItAndTakesALeaseOnlyWhenItExists(kind: MetadataStoreKind) async throws {
        try await kind.withStore { store in
            try await store.createRepo(RepoInfo(name: "images", created: Date()), defaultBranch: "master")
            let now = Date(timeIntervalSince1970: 1_700_000_000)
            let empty = try #require(try await store.leaseBranch("master", in: "images", holder: "first", now: now))
            #expect(empty.branch == BranchInfo(repo: "images", name: "master", head: nil))
            #expect(try await store.leases() == [empty.lease])
            #expect(empty.lease.holder == "first" && empty.lease.started == now && empty.lease.heartbeat == now)

            #expect(
                try await store.appendCommit(
                    commit("c1", parent: nil), expectedHead: nil, releasingLease: empty.lease.id))
            let second = try #require(try await store.leaseBranch("master", in: "images", holder: "second", now: now))
            #expect(second.branch.head == "c1")
            #expect(try await store.leases().map(\.holder) == ["second"])

            // No branch (or no repo): nothing, and no lease left behind.
            #expect(try await store.leaseBranch("dev", in: "images", holder: "third", now: now) == nil)
            #expect(try await store.leaseBranch("master", in: "nowhere", holder: "fourth", now: now) == nil)
            #expect(try await store.leases().map(\.holder) == ["second"])
        }
    }

    @Test(arguments: MetadataStoreKind.testable)
    func commitsAppendedTogetherMoveEveryBranchOrNone(kind: MetadataStoreKind) async throws {
        try await kind.withStore { store in
            for name in ["detect", "threats"] {
                try await store.createRepo(RepoInfo(name: name, created: Date()), defaultBranch: "master")
            }
            #expect(try await store.appendCommit(commit("d1", repo: "detect", parent: nil), expectedHead: nil))
            let lease = try #require(
                try await store.leaseBranch("master", in: "threats", holder: "writer", now: Date())
            ).lease
            let detect = commit("d2", repo: "detect", parent: "d1")
            let threats = commit(
                "t1", repo: "threats", parent: nil, inputs: [CommitReference(repo: "detect", commit: "d2")])

            // One branch whose head moved: nothing is recorded, on either branch, and the lease stays.
            #expect(
                try await store.append(together: [
                    CommitAppendRequest(detect, expectedHead: "d1"),
                    CommitAppendRequest(threats, expectedHead: "someone-else", releasingLease: lease.id),
                ]) == .headMoved(nil))
            #expect(try await store.commit(id: "d2") == nil)
            #expect(try await store.commit(id: "t1") == nil)
            #expect(try await store.branch("master", in: "detect")?.head == "d1")
            #expect(try await store.leases().map(\.id) == [lease.id])

            // Both heads as expected: both commits land, with their provenance, and the lease goes with them.
            #expect(
                try await store.append(together: [
                    CommitAppendRequest(detect, expectedHead: "d1"),
                    CommitAppendRequest(threats, expectedHead: nil, releasingLease: lease.id),
                ]) == .appended)
            #expect(try await store.branch("master", in: "detect")?.head == "d2")
            #expect(try await store.branch("master", in: "threats")?.head == "t1")
            #expect(try await store.commit(id: "t1") == threats)
            #expect(
                try await store.subvenance(of: CommitReference(repo: "detect", commit: "d2"))
                    == [CommitReference(repo: "threats", commit: "t1")])
            #expect(try await store.leases().isEmpty)

            // A commit may build on the one before it in the same list.
            #expect(
                try await store.append(together: [
                    CommitAppendRequest(commit("d3", repo: "detect", parent: "d2"), expectedHead: "d2"),
                    CommitAppendRequest(commit("d4", repo: "detect", parent: "d3"), expectedHead: "d3"),
                ]) == .appended)
            #expect(try await store.branch("master", in: "detect")?.head == "d4")

            let noBranch = await #expect(throws: VigilError.self) {
                try await store.append(together: [
                    CommitAppendRequest(commit("d5", repo: "detect", parent: "d4"), expectedHead: "d4"),
                    CommitAppendRequest(commit("x1", repo: "threats", branch: "dev", parent: nil), expectedHead: nil),
                ])
            }
            #expect(noBranch?.code == .branchNotFound)
            #expect(try await store.branch("master", in: "detect")?.head == "d4")
        }
    }

    @Test(arguments: MetadataStoreKind.testable)
    func concurrentAppendsHaveExactlyOneWinnerPerHead(kind: MetadataStoreKind) async throws {
        try await kind.withStore { store in
            try await store.createRepo(RepoInfo(name: "images", created: Date()), defaultBranch: "master")
            let wins = try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<16 {
                    group.addTask {
                        try await store.appendCommit(commit("racer\(index)", parent: nil), expectedHead: nil)
                    }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(wins == 1)
            #expect(try await store.allCommits(in: "images").count == 1)
        }
    }

    @Test(arguments: MetadataStoreKind.testable)
    func branchesFollowTheirExpectations(kind: MetadataStoreKind) async throws {
        try await kind.withStore { store in
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
    }

    @Test(arguments: MetadataStoreKind.testable)
    func commitsAreFoundByUniquePrefixWithinTheirRepo(kind: MetadataStoreKind) async throws {
        try await kind.withStore { store in
            try await store.createRepo(RepoInfo(name: "images", created: Date()), defaultBranch: "master")
            try await store.createRepo(RepoInfo(name: "other", created: Date()), defaultBranch: "master")
            #expect(try await store.appendCommit(commit("abc123", parent: nil), expectedHead: nil))
            #expect(try await store.appendCommit(commit("abd456", parent: "abc123"), expectedHead: "abc123"))
            #expect(try await store.appendCommit(commit("abc999", repo: "other", parent: nil), expectedHead: nil))
            #expect(try await store.commits(withPrefix: "abc", in: "images", limit: 5).map(\.id) == ["abc123"])
            #expect(try await store.commits(withPrefix: "ab", in: "images", limit: 5).count == 2)
            #expect(try await store.commits(withPrefix: "ff", in: "images", limit: 5).isEmpty)
        }
    }

    @Test(arguments: MetadataStoreKind.testable)
    func provenanceIsStoredAndSubvenanceFindsTheOutputs(kind: MetadataStoreKind) async throws {
        try await kind.withStore { store in
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
    }

    @Test(arguments: MetadataStoreKind.testable)
    func aCommitsTracesAreStoredByPathAndAnUntracedCommitHasNone(kind: MetadataStoreKind) async throws {
        try await kind.withStore { store in
            try await store.createRepo(RepoInfo(name: "images", created: Date()), defaultBranch: "master")
            let traces = [
                "/cam1-1700000000.jpg": TraceHeaders([
                    "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "tracestate": "v=1",
                ]),
                "/cam2-1700000000.jpg": TraceHeaders([
                    "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
                ]),
            ]
            var traced = commit("c1", parent: nil)
            traced.traces = traces
            #expect(try await store.appendCommit(traced, expectedHead: nil))
            #expect(try await store.appendCommit(commit("c2", parent: "c1"), expectedHead: "c1"))
            #expect(try await store.commit(id: "c1")?.traces == traces)
            #expect(try await store.commit(id: "c2")?.traces == nil)
            let listed = Dictionary(uniqueKeysWithValues: try await store.allCommits(in: "images").map { ($0.id, $0) })
            #expect(listed["c1"]?.traces == traces && listed["c2"] != nil && listed["c2"]?.traces == nil)
        }
    }

    @Test(arguments: MetadataStoreKind.testable)
    func leasesAreAcquiredRenewedAndReleased(kind: MetadataStoreKind) async throws {
        try await kind.withStore { store in
            let start = Date(timeIntervalSince1970: 5_000)
            try await store.createRepo(RepoInfo(name: "images", created: start), defaultBranch: "master")
            let lease = try #require(
                try await store.leaseBranch("master", in: "images", holder: "writer", now: start)
            ).lease
            try await store.renewLease(lease.id, now: start.addingTimeInterval(30))
            let listed = try await store.leases()
            #expect(listed.count == 1)
            #expect(listed.first?.started == start)
            #expect(listed.first?.heartbeat == start.addingTimeInterval(30))
            try await store.releaseLease(lease.id)
            #expect(try await store.leases().isEmpty)
        }
    }

    @Test(arguments: MetadataStoreKind.shareable)
    func writersInSeparateProcessesNeverLoseACommit(kind: MetadataStoreKind) async throws {
        try await kind.withStores { first, second in
            let stores = [first, try #require(second)]
            try await first.createRepo(RepoInfo(name: "images", created: Date()), defaultBranch: "master")
            // Eight writers, half on each store, each appending five commits by compare-and-swap, rebasing on
            // the head they find whenever another writer got there first.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<8 {
                    let store = stores[writer % 2]
                    group.addTask {
                        for index in 0..<5 {
                            while true {
                                let head = try await store.branch("master", in: "images")?.head
                                let next = commit("w\(writer)-\(index)", parent: head)
                                if try await store.appendCommit(next, expectedHead: head) { break }
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            // One unbroken chain of all forty commits, read back through the other store.
            var seen: Set<String> = []
            var cursor = try await second?.branch("master", in: "images")?.head
            while let id = cursor {
                #expect(seen.insert(id).inserted)
                let found = try await second?.commit(id: id)
                cursor = try #require(found).parent
            }
            #expect(seen.count == 40)
            #expect(try await first.allCommits(in: "images").count == 40)
        }
    }

    @Test(arguments: MetadataStoreKind.testable)
    func erasuresAreRecordedWithTheirEntriesAndOutliveTheirRepos(kind: MetadataStoreKind) async throws {
        try await kind.withStores { store, other in
            try await store.createRepo(RepoInfo(name: "images", created: Date()), defaultBranch: "master")
            let frame = BlobHash(of: Data("frontdoor frame"))
            let shared = BlobHash(of: Data("a frame two cameras sent"))
            let first = ErasureInfo(
                id: "e1", time: Date(timeIntervalSince1970: 1_000), requester: "ops (operator)",
                reason: "customer left", selection: "--device frontdoor")
            try await store.recordErasure(
                first,
                entries: [
                    ErasedEntry(repo: "images", path: "/frontdoor-1.jpg", hash: frame, size: 15),
                    ErasedEntry(repo: "validate", path: "/valid/frontdoor-1.jpg", hash: frame, size: 15),
                    ErasedEntry(repo: "images", path: "/frontdoor-2.jpg", hash: shared, size: 24),
                ])
            let second = ErasureInfo(
                id: "e2", time: Date(timeIntervalSince1970: 2_000), requester: "root (admin)", reason: "again",
                selection: "images@master:/frontdoor-1.jpg")
            try await store.recordErasure(
                second, entries: [ErasedEntry(repo: "images", path: "/frontdoor-1.jpg", hash: frame, size: 15)])
            for view in [store] + (other.map { [$0] } ?? []) {
                // An entry keeps the erasure that first took it.
                #expect(try await view.erasure(repo: "images", path: "/frontdoor-1.jpg", hash: frame) == first)
                #expect(try await view.erasure(repo: "validate", path: "/valid/frontdoor-1.jpg", hash: frame) == first)
                // The same bytes at a path no erasure named are not erased there.
                #expect(try await view.erasure(repo: "images", path: "/garage-2.jpg", hash: shared) == nil)
                #expect(try await view.isErased(shared))
                #expect(try await !view.isErased(BlobHash(of: Data("never erased"))))
                let listed = try await view.erasures()
                #expect(listed.map(\.erasure) == [second, first] && listed.map(\.entries) == [0, 3])
            }
            try await store.deleteRepo(named: "images")
            #expect(try await store.erasure(repo: "images", path: "/frontdoor-1.jpg", hash: frame) == first)
        }
    }

    @Test(arguments: MetadataStoreKind.testable)
    func anErasureKeepsWhatIsLeftOfAFileAndALaterOneRedactsItFurther(kind: MetadataStoreKind) async throws {
        try await kind.withStores { store, other in
            let rules = BlobHash(of: Data("customers: [acme, bolt]"))
            let first = ErasureInfo(
                id: "r1", time: Date(timeIntervalSince1970: 1_000), requester: "ops (operator)",
                reason: "acme left", selection: "--customer acme")
            #expect(try await store.erasureCount() == 0)
            try await store.recordErasure(
                first,
                entries: [
                    ErasedEntry(
                        repo: "rules", path: "/customers.yaml", hash: rules, size: 23,
                        remainder: Data("customers: [bolt]".utf8)),
                    ErasedEntry(repo: "images", path: "/acme1-1.jpg", hash: BlobHash(of: Data("a frame")), size: 7),
                ])
            let second = ErasureInfo(
                id: "r2", time: Date(timeIntervalSince1970: 2_000), requester: "ops (operator)",
                reason: "bolt left", selection: "--customer bolt")
            try await store.recordErasure(
                second,
                entries: [
                    ErasedEntry(
                        repo: "rules", path: "/customers.yaml", hash: rules, size: 23,
                        remainder: Data("customers: []".utf8))
                ])
            for view in [store] + (other.map { [$0] } ?? []) {
                #expect(try await view.erasureCount() == 2)
                // The entry keeps its first erasure, and what the second left of it.
                #expect(try await view.erasure(repo: "rules", path: "/customers.yaml", hash: rules) == first)
                #expect(
                    try await view.remainder(repo: "rules", path: "/customers.yaml", hash: rules)
                        == Data("customers: []".utf8))
                #expect(
                    try await view.remainder(repo: "images", path: "/acme1-1.jpg", hash: BlobHash(of: Data("a frame")))
                        == nil)
                #expect(try await view.remainder(repo: "rules", path: "/other.yaml", hash: rules) == nil)
                // The remainder is never listed with the entries.
                let encoded = try JSONEncoder().encode(
                    ErasedEntry(repo: "rules", path: "/a.yaml", hash: rules, size: 1, remainder: Data("x".utf8)))
                #expect(!String(decoding: encoded, as: UTF8.self).contains("remainder"))
            }
        }
    }

    @Test(arguments: MetadataStoreKind.testable)
    func aTaskHasOneTurnPerIntervalWhoeverAsks(kind: MetadataStoreKind) async throws {
        try await kind.withStores { store, other in
            let second = other ?? store
            let start = Date(timeIntervalSince1970: 10_000)
            let first = try await store.takeTurn("retention", holder: "a", every: 60, now: start)
            #expect(first)
            // Within the interval nobody has it, the holder neither; another task is apart.
            #expect(try await !second.takeTurn("retention", holder: "b", every: 60, now: start + 59))
            #expect(try await !store.takeTurn("retention", holder: "a", every: 60, now: start + 30))
            #expect(try await second.takeTurn("audit", holder: "b", every: 60, now: start + 30))
            // Once the interval has passed, the first to ask has it (here the other process).
            #expect(try await second.takeTurn("retention", holder: "b", every: 60, now: start + 60))
            #expect(try await !store.takeTurn("retention", holder: "a", every: 60, now: start + 61))
        }
    }

    @Test(arguments: MetadataStoreKind.shareable)
    func ofProcessesRacingForATurnOneHasIt(kind: MetadataStoreKind) async throws {
        try await kind.withStores { store, other in
            let second = try #require(other)
            let now = Date(timeIntervalSince1970: 20_000)
            let won = try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<16 {
                    group.addTask {
                        try await (index.isMultiple(of: 2) ? store : second).takeTurn(
                            "retention", holder: "p\(index)", every: 60, now: now)
                    }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(won == 1)
        }
    }
}
