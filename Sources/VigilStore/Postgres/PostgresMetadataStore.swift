import Foundation
import NIOCore
import NIOFoundationCompat
import PostgresNIO

/// `MetadataStore` on a PostgreSQL database that many processes on many hosts share. Branch heads move by
/// compare-and-swap inside the transaction that records the commit: the `UPDATE … WHERE head IS NOT DISTINCT
/// FROM expected` takes the branch row's lock, so of two writers with the same expectation exactly one moves
/// the head and the other sees zero rows and rebases.
///
/// Times are seconds since 1970 as `double precision`, so a `Date` comes back exactly as it went in; names
/// and ids sort bytewise (`COLLATE "C"`), as they do on SQLite.
public final class PostgresMetadataStore: MetadataStore {
    private let database: PostgresDatabase

    /// The store on `database`, whose schema `schema` must have been applied (the composition root does it).
    public init(database: PostgresDatabase) {
        self.database = database
    }

    public static let schema = PostgresSchema(
        component: "metadata",
        migrations: [
            [
                """
                CREATE TABLE repos(
                    name text COLLATE "C" PRIMARY KEY, description text NOT NULL, created double precision NOT NULL)
                """,
                """
                CREATE TABLE branches(
                    repo text COLLATE "C" NOT NULL REFERENCES repos(name) ON DELETE CASCADE,
                    name text COLLATE "C" NOT NULL, head text COLLATE "C", PRIMARY KEY(repo, name))
                """,
                """
                CREATE TABLE commits(
                    id text COLLATE "C" PRIMARY KEY,
                    seq bigint GENERATED ALWAYS AS IDENTITY,
                    repo text COLLATE "C" NOT NULL REFERENCES repos(name) ON DELETE CASCADE,
                    branch text COLLATE "C" NOT NULL, parent text COLLATE "C",
                    tree text NOT NULL, size bigint NOT NULL, files bigint NOT NULL,
                    meta text, meta_size bigint, meta_files bigint,
                    author text NOT NULL, message text NOT NULL, origin text,
                    started double precision NOT NULL, finished double precision NOT NULL)
                """,
                "CREATE INDEX commits_by_repo ON commits(repo, finished, seq)",
                """
                CREATE TABLE commit_inputs(
                    commit_id text COLLATE "C" NOT NULL REFERENCES commits(id) ON DELETE CASCADE,
                    position integer NOT NULL, repo text COLLATE "C" NOT NULL, input text COLLATE "C" NOT NULL,
                    PRIMARY KEY(commit_id, position))
                """,
                "CREATE INDEX commit_inputs_by_input ON commit_inputs(input, repo)",
                """
                CREATE TABLE writer_leases(
                    id text PRIMARY KEY, seq bigint GENERATED ALWAYS AS IDENTITY, holder text NOT NULL,
                    started double precision NOT NULL, heartbeat double precision NOT NULL)
                """,
            ],
            ["ALTER TABLE commits ADD COLUMN traces text"],
            // No reference to repos: an erasure's record outlives the repo it names.
            [
                """
                CREATE TABLE erasures(
                    id text COLLATE "C" PRIMARY KEY, time double precision NOT NULL, requester text NOT NULL,
                    reason text NOT NULL, selection text NOT NULL)
                """,
                """
                CREATE TABLE erased_entries(
                    hash text COLLATE "C" NOT NULL, repo text COLLATE "C" NOT NULL, path text COLLATE "C" NOT NULL,
                    size bigint NOT NULL, erasure text COLLATE "C" NOT NULL REFERENCES erasures(id),
                    PRIMARY KEY(hash, repo, path))
                """,
            ],
            [
                """
                CREATE TABLE turns(
                    task text COLLATE "C" PRIMARY KEY, holder text NOT NULL, taken double precision NOT NULL)
                """
            ],
            ["ALTER TABLE erased_entries ADD COLUMN remainder bytea"],
        ])

    // MARK: Repos

    public func createRepo(_ repo: RepoInfo, defaultBranch: String) async throws {
        try await database.withTransaction("creating repo '\(repo.name)'") { connection in
            let inserted = try await connection.rows(
                """
                INSERT INTO repos(name, description, created)
                VALUES (\(repo.name), \(repo.description), \(repo.created.timeIntervalSince1970))
                ON CONFLICT (name) DO NOTHING RETURNING 1
                """)
            guard !inserted.isEmpty else {
                throw VigilError(
                    .repoExists, "a repo named '\(repo.name)' already exists; pick another name or delete it first",
                    value: repo.name)
            }
            try await connection.rows(
                "INSERT INTO branches(repo, name, head) VALUES (\(repo.name), \(defaultBranch), NULL)")
        }
    }

    public func repo(named name: String) async throws -> RepoInfo? {
        try await database.rows(
            "reading repo '\(name)'", "SELECT name, description, created FROM repos WHERE name = \(name)"
        ).first.map(Self.repo)
    }

    public func repos() async throws -> [RepoInfo] {
        try await database.rows("listing repos", "SELECT name, description, created FROM repos ORDER BY name")
            .map(Self.repo)
    }

    public func deleteRepo(named name: String) async throws {
        let deleted = try await database.rows(
            "deleting repo '\(name)'", "DELETE FROM repos WHERE name = \(name) RETURNING 1")
        if deleted.isEmpty { throw VigilError.repoNotFound(name) }
    }

    // MARK: Branches

    public func branch(_ name: String, in repo: String) async throws -> BranchInfo? {
        // Prepared: every pipeline step reads its inputs' and output's heads.
        try await database.preparedRows(
            "reading branch '\(name)' of '\(repo)'",
            "SELECT repo, name, head FROM branches WHERE repo = \(repo) AND name = \(name)"
        ).first.map(Self.branch)
    }

    public func branches(in repo: String) async throws -> [BranchInfo] {
        try await database.rows(
            "listing the branches of '\(repo)'",
            "SELECT repo, name, head FROM branches WHERE repo = \(repo) ORDER BY name"
        ).map(Self.branch)
    }

    public func setBranch(
        _ name: String, in repo: String, head: String?, expected: BranchExpectation
    ) async throws
        -> Bool
    {
        try await database.withTransaction("moving branch '\(name)' of '\(repo)'") { connection in
            try await Self.requireRepo(repo, connection)
            if let head,
                try await connection.rows(
                    "SELECT 1 FROM commits WHERE id = \(head) AND repo = \(repo)"
                ).isEmpty
            {
                throw VigilError(.commitNotFound, "no commit \(head) in repo '\(repo)'", value: head)
            }
            let query: PostgresQuery =
                switch expected {
                case .any:
                    """
                    INSERT INTO branches(repo, name, head) VALUES (\(repo), \(name), \(head))
                    ON CONFLICT (repo, name) DO UPDATE SET head = excluded.head \(unescaped: Self.notifying)
                    """
                case .absent:
                    """
                    INSERT INTO branches(repo, name, head) VALUES (\(repo), \(name), \(head))
                    ON CONFLICT DO NOTHING \(unescaped: Self.notifying)
                    """
                case .head(let current):
                    """
                    UPDATE branches SET head = \(head)
                    WHERE repo = \(repo) AND name = \(name) AND head IS NOT DISTINCT FROM \(current)
                    \(unescaped: Self.notifying)
                    """
                }
            return try await connection.rows(query).count == 1
        }
    }

    public func deleteBranch(_ name: String, in repo: String) async throws {
        let deleted = try await database.rows(
            "deleting branch '\(name)' of '\(repo)'",
            "DELETE FROM branches WHERE repo = \(repo) AND name = \(name) RETURNING 1")
        if deleted.isEmpty {
            throw VigilError(.branchNotFound, "no branch '\(name)' in repo '\(repo)'", value: name)
        }
    }

    // MARK: Commits

    public func append(
        _ commit: CommitInfo, expectedHead: String?, releasingLease lease: String?
    ) async throws
        -> CommitAppend
    {
        let rows = try await database.preparedRows(
            "committing to \(commit.repo)@\(commit.branch)",
            Self.appending(commit, expectedHead: expectedHead, releasingLease: lease))
        if let outcome = try Self.outcome(of: rows, appending: commit) { return outcome }
        try await database.withConnection("committing to \(commit.repo)@\(commit.branch)") { connection in
            try await Self.requireRepo(commit.repo, connection)
        }
        throw Self.noBranch(for: commit)
    }

    public func append(together requests: [CommitAppendRequest]) async throws -> CommitAppend {
        /// Thrown inside the transaction so that it is rolled back with what the commits before it recorded.
        struct HeadMoved: Error {
            let head: String?
        }
        let names = requests.map { "\($0.commit.repo)@\($0.commit.branch)" }.joined(separator: ", ")
        do {
            try await database.withTransaction("committing to \(names) together") { connection in
                for request in requests {
                    let commit = request.commit
                    let statement = Self.appending(
                        commit, expectedHead: request.expectedHead, releasingLease: request.releasingLease)
                    switch try Self.outcome(of: try await connection.rows(statement.query), appending: commit) {
                    case .appended?: continue
                    case .headMoved(let head)?: throw HeadMoved(head: head)
                    case nil:
                        try await Self.requireRepo(commit.repo, connection)
                        throw Self.noBranch(for: commit)
                    }
                }
            }
            return .appended
        } catch let moved as HeadMoved {
            return .headMoved(moved.head)
        }
    }

    /// One statement, so one round trip and one implicit transaction (or a part of the caller's): the
    /// compare-and-swap on the head, and, only if it moved the head, the commit, its inputs and the lease release.
    /// Foreign keys are checked at the end of the statement, when the commit row is there. When the head had
    /// moved, the head it reads (as of the statement's start, so it may be older than the one that beat this
    /// writer: the next compare-and-swap then fails too and reads again) saves the writer a separate read.
    private static func appending(
        _ commit: CommitInfo, expectedHead: String?, releasingLease lease: String?
    ) -> PostgresStatement {
        let inputs = commit.provenance.inputs
        return """
            WITH moved AS (
                UPDATE branches SET head = \(commit.id)
                WHERE repo = \(commit.repo) AND name = \(commit.branch) AND head IS NOT DISTINCT FROM \(expectedHead)
                \(unescaped: Self.notifying)
            ), recorded AS (
                INSERT INTO commits(id, repo, branch, parent, tree, size, files, meta, meta_size, meta_files,
                                    author, message, origin, started, finished, traces)
                SELECT \(commit.id), \(commit.repo), \(commit.branch), \(commit.parent), \(commit.tree.hash.hex),
                       \(commit.tree.size), \(commit.tree.files), \(commit.meta?.hash.hex), \(commit.meta?.size),
                       \(commit.meta?.files), \(commit.author), \(commit.message), \(commit.provenance.origin),
                       \(commit.started.timeIntervalSince1970), \(commit.finished.timeIntervalSince1970),
                       \(TraceHeaders.columnText(of: commit.traces))
                WHERE EXISTS (SELECT 1 FROM moved)
                RETURNING id
            ), inputs AS (
                INSERT INTO commit_inputs(commit_id, position, repo, input)
                SELECT recorded.id, given.position - 1, given.repo, given.input
                FROM recorded, unnest(\(inputs.map(\.repo))::text[], \(inputs.map(\.commit))::text[])
                     WITH ORDINALITY AS given(repo, input, position)
            ), released AS (
                DELETE FROM writer_leases WHERE id = \(lease) AND EXISTS (SELECT 1 FROM recorded)
            )
            SELECT EXISTS (SELECT 1 FROM moved), branch.name IS NOT NULL, branch.head
            FROM (VALUES (1)) AS one
                 LEFT JOIN branches branch ON branch.repo = \(commit.repo) AND branch.name = \(commit.branch)
            """
    }

    private static func noBranch(for commit: CommitInfo) -> VigilError {
        VigilError(.branchNotFound, "no branch '\(commit.branch)' in repo '\(commit.repo)'", value: commit.branch)
    }

    /// What `appending`'s row says: appended, or the head another writer moved the branch to; nil when there is
    /// no such branch.
    private static func outcome(of rows: [PostgresRow], appending commit: CommitInfo) throws -> CommitAppend? {
        guard let row = rows.first else {
            throw VigilError(.io, "PostgreSQL returned no row for a commit to \(commit.repo)@\(commit.branch)")
        }
        let (appended, branchExists, head) = try row.decode((Bool, Bool, String?).self)
        if appended { return .appended }
        return branchExists ? .headMoved(head) : nil
    }

    public func commit(id: String) async throws -> CommitInfo? {
        try await database.rows(
            "reading commit \(id)", "SELECT \(unescaped: Self.commitColumns) FROM commits c WHERE c.id = \(id)"
        ).first.map(Self.commit)
    }

    public func commits(withPrefix prefix: String, in repo: String, limit: Int) async throws -> [CommitInfo] {
        // Ids are lowercase hex and sort bytewise, so a range scan on the primary key finds the prefix.
        try await database.rows(
            "finding commits \(prefix)… in '\(repo)'",
            """
            SELECT \(unescaped: Self.commitColumns) FROM commits c
            WHERE c.id >= \(prefix) AND c.id < \(prefix + "g") AND c.repo = \(repo) LIMIT \(limit)
            """
        ).map(Self.commit)
    }

    public func allCommits(in repo: String?) async throws -> [CommitInfo] {
        try await database.rows(
            "listing commits",
            """
            SELECT \(unescaped: Self.commitColumns) FROM commits c
            WHERE \(repo)::text IS NULL OR c.repo = \(repo) ORDER BY c.finished, c.seq
            """
        ).map(Self.commit)
    }

    public func subvenance(of commit: CommitReference) async throws -> [CommitReference] {
        try await database.rows(
            "finding what \(commit.repo)@\(commit.commit) fed",
            """
            SELECT c.repo, c.id FROM commit_inputs i JOIN commits c ON c.id = i.commit_id
            WHERE i.input = \(commit.commit) AND i.repo = \(commit.repo) ORDER BY c.finished, c.seq
            """
        ).map { row in
            let (repo, id) = try row.decode((String, String).self)
            return CommitReference(repo: repo, commit: id)
        }
    }

    // MARK: Leases

    public func leaseBranch(
        _ name: String, in repo: String, holder: String, now: Date
    ) async throws
        -> LeasedBranch?
    {
        // One round trip: a writer does this before every commit.
        let lease = WriterLease(id: Hex.randomID(), holder: holder, started: now, heartbeat: now)
        return try await database.preparedRows(
            "taking a writer lease on '\(name)' of '\(repo)'",
            """
            WITH branch AS (
                SELECT repo, name, head FROM branches WHERE repo = \(repo) AND name = \(name)
            ), leased AS (
                INSERT INTO writer_leases(id, holder, started, heartbeat)
                SELECT \(lease.id), \(holder), \(now.timeIntervalSince1970), \(now.timeIntervalSince1970)
                WHERE EXISTS (SELECT 1 FROM branch)
            )
            SELECT repo, name, head FROM branch
            """
        ).first.map { LeasedBranch(branch: try Self.branch($0), lease: lease) }
    }

    public func renewLease(_ id: String, now: Date) async throws {
        _ = try await database.rows(
            "renewing a writer lease",
            "UPDATE writer_leases SET heartbeat = \(now.timeIntervalSince1970) WHERE id = \(id)")
    }

    public func releaseLease(_ id: String) async throws {
        _ = try await database.rows("releasing a writer lease", "DELETE FROM writer_leases WHERE id = \(id)")
    }

    public func takeTurn(_ task: String, holder: String, every: Double, now: Date) async throws -> Bool {
        let stamp = now.timeIntervalSince1970
        return try await !database.rows(
            "taking the turn of \(task)",
            """
            INSERT INTO turns(task, holder, taken) VALUES (\(task), \(holder), \(stamp))
            ON CONFLICT(task) DO UPDATE SET holder = excluded.holder, taken = excluded.taken
            WHERE turns.taken <= excluded.taken - \(every)
            RETURNING 1
            """
        ).isEmpty
    }

    public func leases() async throws -> [WriterLease] {
        try await database.rows(
            "listing writer leases", "SELECT id, holder, started, heartbeat FROM writer_leases ORDER BY started, seq"
        ).map { row in
            let (id, holder, started, heartbeat) = try row.decode((String, String, Double, Double).self)
            return WriterLease(
                id: id, holder: holder, started: Date(timeIntervalSince1970: started),
                heartbeat: Date(timeIntervalSince1970: heartbeat))
        }
    }

    // MARK: Erasures

    public func recordErasure(_ erasure: ErasureInfo, entries: [ErasedEntry]) async throws {
        try await database.withTransaction("recording erasure \(erasure.id)") { connection in
            try await connection.rows(
                """
                INSERT INTO erasures(id, time, requester, reason, selection)
                VALUES (\(erasure.id), \(erasure.time.timeIntervalSince1970), \(erasure.requester), \(erasure.reason),
                        \(erasure.selection))
                """)
            for start in stride(from: 0, to: entries.count, by: 2_000) {
                let batch = entries[start..<min(start + 2_000, entries.count)]
                try await connection.rows(
                    """
                    INSERT INTO erased_entries(hash, repo, path, size, erasure)
                    SELECT h, r, p, s, \(erasure.id)
                    FROM unnest(\(batch.map(\.hash.hex))::text[], \(batch.map(\.repo))::text[],
                                \(batch.map(\.path))::text[], \(batch.map(\.size))::bigint[]) AS x(h, r, p, s)
                    ON CONFLICT DO NOTHING
                    """)
            }
            // Few entries keep a remainder (a rules file's versions); each is its own statement.
            for entry in entries {
                guard let remainder = entry.remainder else { continue }
                try await connection.rows(
                    """
                    UPDATE erased_entries SET remainder = \(ByteBuffer(data: remainder))
                    WHERE hash = \(entry.hash.hex) AND repo = \(entry.repo) AND path = \(entry.path)
                    """)
            }
            try await connection.rows(
                "SELECT pg_notify(\(PostgresChangeFeed.channel), \(Change.erasures.payload))")
        }
    }

    public func remainder(repo: String, path: String, hash: BlobHash) async throws -> Data? {
        try await database.rows(
            "reading what the erasure of \(repo):\(path) kept",
            """
            SELECT remainder FROM erased_entries
            WHERE hash = \(hash.hex) AND repo = \(repo) AND path = \(path) AND remainder IS NOT NULL
            """
        ).first.map { row in
            let buffer = try row.decode(ByteBuffer.self)
            return Data(buffer: buffer)
        }
    }

    public func erasureCount() async throws -> Int {
        try await database.rows("counting erasures", "SELECT count(*) FROM erasures").first.map {
            try Int($0.decode(Int64.self))
        } ?? 0
    }

    public func erasure(repo: String, path: String, hash: BlobHash) async throws -> ErasureInfo? {
        try await database.rows(
            "reading the erasure of \(repo):\(path)",
            """
            SELECT e.id, e.time, e.requester, e.reason, e.selection
            FROM erased_entries x JOIN erasures e ON e.id = x.erasure
            WHERE x.hash = \(hash.hex) AND x.repo = \(repo) AND x.path = \(path)
            """
        ).first.map(Self.erasure)
    }

    public func isErased(_ hash: BlobHash) async throws -> Bool {
        try await !database.rows(
            "checking for an erasure of \(hash.hex)", "SELECT 1 FROM erased_entries WHERE hash = \(hash.hex) LIMIT 1"
        ).isEmpty
    }

    public func erasures() async throws -> [(erasure: ErasureInfo, entries: Int)] {
        try await database.rows(
            "listing erasures",
            """
            SELECT e.id, e.time, e.requester, e.reason, e.selection,
                   (SELECT count(*) FROM erased_entries x WHERE x.erasure = e.id)
            FROM erasures e ORDER BY e.time DESC, e.id
            """
        ).map { row in
            let columns = try row.decode((String, Double, String, String, String, Int).self)
            return (
                ErasureInfo(
                    id: columns.0, time: Date(timeIntervalSince1970: columns.1), requester: columns.2,
                    reason: columns.3, selection: columns.4), columns.5
            )
        }
    }

    private static func erasure(_ row: PostgresRow) throws -> ErasureInfo {
        let (id, time, requester, reason, selection) = try row.decode((String, Double, String, String, String).self)
        return ErasureInfo(
            id: id, time: Date(timeIntervalSince1970: time), requester: requester, reason: reason,
            selection: selection)
    }

    /// A branch row's `RETURNING`: tells other processes' change feeds, when the transaction commits, that a
    /// head of this repo moved (no extra round trip).
    private static let notifying = PostgresChangeFeed.notifying(Change.repoPrefix, column: "repo")

    // MARK: Row mapping

    private static func requireRepo(_ name: String, _ connection: PostgresConnection) async throws {
        if try await connection.rows("SELECT 1 FROM repos WHERE name = \(name)").isEmpty {
            throw VigilError.repoNotFound(name)
        }
    }

    private static func repo(_ row: PostgresRow) throws -> RepoInfo {
        let (name, description, created) = try row.decode((String, String, Double).self)
        return RepoInfo(name: name, description: description, created: Date(timeIntervalSince1970: created))
    }

    private static func branch(_ row: PostgresRow) throws -> BranchInfo {
        let (repo, name, head) = try row.decode((String, String, String?).self)
        return BranchInfo(repo: repo, name: name, head: head)
    }

    /// A commit with its inputs in one row (`inputs` as two parallel arrays, in order).
    private static let commitColumns = """
        c.id, c.repo, c.branch, c.parent, c.tree, c.size, c.files, c.meta, c.meta_size, c.meta_files,
        c.author, c.message, c.origin, c.started, c.finished, c.traces,
        ARRAY(SELECT i.repo FROM commit_inputs i WHERE i.commit_id = c.id ORDER BY i.position),
        ARRAY(SELECT i.input FROM commit_inputs i WHERE i.commit_id = c.id ORDER BY i.position)
        """

    private static func commit(_ row: PostgresRow) throws -> CommitInfo {
        let (
            id, repo, branch, parent, treeHex, size, files, metaHex, metaSize, metaFiles, author, message, origin,
            started, finished, traces, inputRepos, inputCommits
        ) = try row.decode(
            (
                String, String, String, String?, String, Int64, Int64, String?, Int64?, Int64?, String, String, String?,
                Double, Double, String?, [String], [String]
            ).self)
        guard let tree = BlobHash(hex: treeHex) else {
            throw VigilError(.corruptData, "commit \(id) names a malformed tree hash", value: treeHex)
        }
        var meta: TreeRoot?
        if let metaHex {
            guard let hash = BlobHash(hex: metaHex), let metaSize, let metaFiles else {
                throw VigilError(.corruptData, "commit \(id) names a malformed meta tree hash", value: metaHex)
            }
            meta = TreeRoot(hash: hash, size: metaSize, files: metaFiles)
        }
        return CommitInfo(
            id: id, repo: repo, branch: branch, parent: parent, tree: TreeRoot(hash: tree, size: size, files: files),
            author: author, message: message,
            provenance: Provenance(
                inputs: zip(inputRepos, inputCommits).map { CommitReference(repo: $0, commit: $1) }, origin: origin),
            started: Date(timeIntervalSince1970: started), finished: Date(timeIntervalSince1970: finished), meta: meta,
            traces: TraceHeaders.map(columnText: traces))
    }
}
