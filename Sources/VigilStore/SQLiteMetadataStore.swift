import Foundation
import GRDB

/// `MetadataStore` on SQLite through GRDB: a WAL database file shared safely by several processes (the CLI and
/// a server at once), or an in-memory database for tests.
public final class SQLiteMetadataStore: MetadataStore {
    let database: any DatabaseWriter

    /// Opens (creating and migrating if needed) the database at `path`.
    public init(path: String) throws {
        do {
            database = try SQLiteFiles.pool(path: path, migrator: Self.migrator)
        } catch {
            throw VigilError(.io, "cannot open metadata database '\(path)': \(error)", value: path)
        }
    }

    /// An in-memory database, gone with the object.
    public init() throws {
        database = try SQLiteFiles.memory(migrator: Self.migrator)
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE repos(
                        name TEXT PRIMARY KEY, description TEXT NOT NULL, created REAL NOT NULL);
                    CREATE TABLE branches(
                        repo TEXT NOT NULL REFERENCES repos(name) ON DELETE CASCADE,
                        name TEXT NOT NULL, head TEXT, PRIMARY KEY(repo, name));
                    CREATE TABLE commits(
                        id TEXT PRIMARY KEY,
                        repo TEXT NOT NULL REFERENCES repos(name) ON DELETE CASCADE,
                        branch TEXT NOT NULL, parent TEXT,
                        tree TEXT NOT NULL, size INTEGER NOT NULL, files INTEGER NOT NULL,
                        author TEXT NOT NULL, message TEXT NOT NULL, origin TEXT,
                        started REAL NOT NULL, finished REAL NOT NULL);
                    CREATE INDEX commits_by_repo ON commits(repo, finished);
                    CREATE TABLE commit_inputs(
                        commit_id TEXT NOT NULL REFERENCES commits(id) ON DELETE CASCADE,
                        position INTEGER NOT NULL, repo TEXT NOT NULL, input TEXT NOT NULL,
                        PRIMARY KEY(commit_id, position));
                    CREATE INDEX commit_inputs_by_input ON commit_inputs(input, repo);
                    CREATE TABLE leases(
                        id TEXT PRIMARY KEY, holder TEXT NOT NULL, started REAL NOT NULL, heartbeat REAL NOT NULL);
                    """)
        }
        migrator.registerMigration("v2-meta-tree") { db in
            try db.execute(
                sql: """
                    ALTER TABLE commits ADD COLUMN meta TEXT;
                    ALTER TABLE commits ADD COLUMN meta_size INTEGER;
                    ALTER TABLE commits ADD COLUMN meta_files INTEGER;
                    """)
        }
        migrator.registerMigration("v3-commit-traces") { db in
            try db.execute(sql: "ALTER TABLE commits ADD COLUMN traces TEXT")
        }
        // No reference to repos: an erasure's record outlives the repo it names.
        migrator.registerMigration("v4-erasures") { db in
            try db.execute(
                sql: """
                    CREATE TABLE erasures(
                        id TEXT PRIMARY KEY, time REAL NOT NULL, requester TEXT NOT NULL, reason TEXT NOT NULL,
                        selection TEXT NOT NULL);
                    CREATE TABLE erased_entries(
                        hash TEXT NOT NULL, repo TEXT NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL,
                        erasure TEXT NOT NULL REFERENCES erasures(id), PRIMARY KEY(hash, repo, path));
                    """)
        }
        migrator.registerMigration("v5-turns") { db in
            try db.execute(sql: "CREATE TABLE turns(task TEXT PRIMARY KEY, holder TEXT NOT NULL, taken REAL NOT NULL)")
        }
        migrator.registerMigration("v6-erasure-remainders") { db in
            try db.execute(sql: "ALTER TABLE erased_entries ADD COLUMN remainder BLOB")
        }
        // AUTOINCREMENT: a position is never given again, even after the rows before it are gone (`BlobJournal`).
        // No index on the hash: the table holds a few batches of rows, and only an erasure looks one up.
        migrator.registerMigration("v7-blob-journal") { db in
            try db.execute(
                sql: """
                    CREATE TABLE blob_journal(
                        position INTEGER PRIMARY KEY AUTOINCREMENT, hash TEXT NOT NULL, bytes BLOB NOT NULL);
                    """)
        }
        return migrator
    }

    /// Reads on the calling task. A WAL reader never waits for a writer, so this takes tens of microseconds;
    /// the async variant's hop to GRDB's queue and back cost about 100 µs more per read (measured here), and a
    /// pipeline stage makes some twenty reads. Writes stay async: they can wait on another process's lock.
    func read<T>(_ body: (Database) throws -> T) throws -> T {
        try database.read(body)
    }

    // MARK: Repos

    /// A write that need not survive a power cut, so it does not wait for the disk: a writer lease, whose holder
    /// a power cut ends too. The next commit's wait makes it durable anyway (the WAL is one file, synced in order).
    func writeWithoutWaitingForTheDisk<T: Sendable>(
        _ body: @escaping @Sendable (Database) throws -> T
    ) async throws -> T {
        try await database.writeWithoutTransaction { db in
            // Prepared once per connection: every commit's lease comes here.
            try db.prepared("PRAGMA synchronous = NORMAL").execute()
            var value: T?
            let written = Result {
                try db.inTransaction(.immediate) {
                    value = try body(db)
                    return .commit
                }
            }
            try db.prepared("PRAGMA synchronous = FULL").execute()
            try written.get()
            return value!
        }
    }

    public func createRepo(_ repo: RepoInfo, defaultBranch: String) async throws {
        try await database.write { db in
            if try Bool.fetchOne(try db.prepared("SELECT 1 FROM repos WHERE name = ?"), arguments: [repo.name]) != nil {
                throw VigilError(
                    .repoExists, "a repo named '\(repo.name)' already exists; pick another name or delete it first",
                    value: repo.name)
            }
            try db.prepared("INSERT INTO repos(name, description, created) VALUES (?, ?, ?)").execute(arguments: [
                repo.name, repo.description, repo.created.timeIntervalSince1970,
            ])
            try db.prepared("INSERT INTO branches(repo, name, head) VALUES (?, ?, NULL)").execute(arguments: [
                repo.name, defaultBranch,
            ])
        }
    }

    public func repo(named name: String) async throws -> RepoInfo? {
        try read { db in
            try Row.fetchOne(try db.prepared("SELECT * FROM repos WHERE name = ?"), arguments: [name]).map(Self.repo)
        }
    }

    public func repos() async throws -> [RepoInfo] {
        try read { db in
            try Row.fetchAll(try db.prepared("SELECT * FROM repos ORDER BY name")).map(Self.repo)
        }
    }

    public func deleteRepo(named name: String) async throws {
        try await database.write { db in
            try db.prepared("DELETE FROM repos WHERE name = ?").execute(arguments: [name])
            if db.changesCount == 0 { throw VigilError.repoNotFound(name) }
        }
    }

    // MARK: Branches

    public func branch(_ name: String, in repo: String) async throws -> BranchInfo? {
        try read { db in
            try Row.fetchOne(
                try db.prepared("SELECT * FROM branches WHERE repo = ? AND name = ?"), arguments: [repo, name]
            ).map(Self.branch)
        }
    }

    public func leaseBranch(
        _ name: String, in repo: String, holder: String, now: Date
    ) async throws
        -> LeasedBranch?
    {
        try await writeWithoutWaitingForTheDisk { db in
            guard
                let branch = try Row.fetchOne(
                    try db.prepared("SELECT * FROM branches WHERE repo = ? AND name = ?"), arguments: [repo, name]
                ).map(Self.branch)
            else { return nil }
            let lease = WriterLease(id: Hex.randomID(), holder: holder, started: now, heartbeat: now)
            try db.prepared("INSERT INTO leases(id, holder, started, heartbeat) VALUES (?, ?, ?, ?)").execute(
                arguments: [lease.id, holder, now.timeIntervalSince1970, now.timeIntervalSince1970])
            return LeasedBranch(branch: branch, lease: lease)
        }
    }

    public func branches(in repo: String) async throws -> [BranchInfo] {
        try read { db in
            try Row.fetchAll(try db.prepared("SELECT * FROM branches WHERE repo = ? ORDER BY name"), arguments: [repo])
                .map(Self.branch)
        }
    }

    public func setBranch(
        _ name: String, in repo: String, head: String?, expected: BranchExpectation
    ) async throws
        -> Bool
    {
        try await database.write { db in
            try Self.requireRepo(repo, db)
            if let head,
                try Bool.fetchOne(
                    try db.prepared("SELECT 1 FROM commits WHERE id = ? AND repo = ?"), arguments: [head, repo]) == nil
            {
                throw VigilError(.commitNotFound, "no commit \(head) in repo '\(repo)'", value: head)
            }
            switch expected {
            case .any:
                try db.execute(
                    sql: "INSERT INTO branches(repo, name, head) VALUES (?, ?, ?) "
                        + "ON CONFLICT(repo, name) DO UPDATE SET head = excluded.head",
                    arguments: [repo, name, head])
            case .absent:
                try db.prepared("INSERT INTO branches(repo, name, head) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
                    .execute(arguments: [repo, name, head])
            case .head(let current):
                try db.prepared("UPDATE branches SET head = ? WHERE repo = ? AND name = ? AND head IS ?").execute(
                    arguments: [head, repo, name, current])
            }
            return db.changesCount == 1
        }
    }

    public func deleteBranch(_ name: String, in repo: String) async throws {
        try await database.write { db in
            try db.prepared("DELETE FROM branches WHERE repo = ? AND name = ?").execute(arguments: [repo, name])
            if db.changesCount == 0 {
                throw VigilError(.branchNotFound, "no branch '\(name)' in repo '\(repo)'", value: name)
            }
        }
    }

    // MARK: Commits

    public func append(
        _ commit: CommitInfo, expectedHead: String?, releasingLease lease: String?
    ) async throws
        -> CommitAppend
    {
        try await database.write { db in
            try Self.append(commit, expectedHead: expectedHead, releasingLease: lease, db)
        }
    }

    public func append(together requests: [CommitAppendRequest]) async throws -> CommitAppend {
        try await append(together: requests) { _ in }
    }

    /// `append(together:)`, running `alongside` in its transaction once every head has moved.
    func append(
        together requests: [CommitAppendRequest], alongside: @escaping @Sendable (Database) throws -> Void
    ) async throws -> CommitAppend {
        /// Thrown inside the transaction so that GRDB rolls back what the commits before it recorded.
        struct HeadMoved: Error {
            let head: String?
        }
        do {
            try await database.write { db in
                for request in requests {
                    let outcome = try Self.append(
                        request.commit, expectedHead: request.expectedHead, releasingLease: request.releasingLease, db)
                    if case .headMoved(let head) = outcome { throw HeadMoved(head: head) }
                }
                try alongside(db)
            }
            return .appended
        } catch let moved as HeadMoved {
            return .headMoved(moved.head)
        }
    }

    private static func append(
        _ commit: CommitInfo, expectedHead: String?, releasingLease lease: String?, _ db: Database
    ) throws -> CommitAppend {
        try Self.requireRepo(commit.repo, db)
        // The compare-and-swap first: if it moves nothing, nothing else is written.
        try db.prepared("UPDATE branches SET head = ? WHERE repo = ? AND name = ? AND head IS ?").execute(
            arguments: [commit.id, commit.repo, commit.branch, expectedHead])
        guard db.changesCount == 1 else {
            guard
                let branch = try Row.fetchOne(
                    try db.prepared("SELECT * FROM branches WHERE repo = ? AND name = ?"),
                    arguments: [commit.repo, commit.branch]
                ).map(Self.branch)
            else {
                throw VigilError(
                    .branchNotFound, "no branch '\(commit.branch)' in repo '\(commit.repo)'", value: commit.branch)
            }
            return .headMoved(branch.head)
        }
        try db.prepared(
            """
            INSERT INTO commits(id, repo, branch, parent, tree, size, files, author, message, origin,
                                started, finished, meta, meta_size, meta_files, traces)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """
        ).execute(
            arguments: [
                commit.id, commit.repo, commit.branch, commit.parent, commit.tree.hash.hex, commit.tree.size,
                commit.tree.files, commit.author, commit.message, commit.provenance.origin,
                commit.started.timeIntervalSince1970, commit.finished.timeIntervalSince1970,
                commit.meta?.hash.hex, commit.meta?.size, commit.meta?.files,
                TraceHeaders.columnText(of: commit.traces),
            ])
        for (position, input) in commit.provenance.inputs.enumerated() {
            try db.prepared("INSERT INTO commit_inputs(commit_id, position, repo, input) VALUES (?, ?, ?, ?)")
                .execute(arguments: [commit.id, position, input.repo, input.commit])
        }
        if let lease { try db.prepared("DELETE FROM leases WHERE id = ?").execute(arguments: [lease]) }
        return .appended
    }

    public func commit(id: String) async throws -> CommitInfo? {
        try read { db in
            try Row.fetchOne(try db.prepared("SELECT * FROM commits WHERE id = ?"), arguments: [id]).map {
                try Self.commit($0, db)
            }
        }
    }

    public func commits(withPrefix prefix: String, in repo: String, limit: Int) async throws -> [CommitInfo] {
        try read { db in
            // Ids are lowercase hex, so a range scan on the primary key finds the prefix without LIKE's escaping.
            try Row.fetchAll(
                try db.prepared("SELECT * FROM commits WHERE id >= ? AND id < ? AND repo = ? LIMIT ?"),
                arguments: [prefix, prefix + "g", repo, limit]
            ).map { try Self.commit($0, db) }
        }
    }

    public func allCommits(in repo: String?) async throws -> [CommitInfo] {
        try read { db in
            let rows =
                if let repo {
                    try Row.fetchAll(
                        try db.prepared("SELECT * FROM commits WHERE repo = ? ORDER BY finished"), arguments: [repo])
                } else {
                    try Row.fetchAll(try db.prepared("SELECT * FROM commits ORDER BY finished"))
                }
            return try rows.map { try Self.commit($0, db) }
        }
    }

    public func subvenance(of commit: CommitReference) async throws -> [CommitReference] {
        try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT c.repo, c.id FROM commit_inputs i JOIN commits c ON c.id = i.commit_id
                    WHERE i.input = ? AND i.repo = ? ORDER BY c.finished
                    """,
                arguments: [commit.commit, commit.repo]
            ).map { CommitReference(repo: $0[0], commit: $0[1]) }
        }
    }

    // MARK: Leases

    public func renewLease(_ id: String, now: Date) async throws {
        try await writeWithoutWaitingForTheDisk { db in
            try db.prepared("UPDATE leases SET heartbeat = ? WHERE id = ?").execute(arguments: [
                now.timeIntervalSince1970, id,
            ])
        }
    }

    public func releaseLease(_ id: String) async throws {
        try await writeWithoutWaitingForTheDisk { db in
            try db.prepared("DELETE FROM leases WHERE id = ?").execute(arguments: [id])
        }
    }

    public func takeTurn(_ task: String, holder: String, every: Double, now: Date) async throws -> Bool {
        try await database.write { db in
            try db.prepared(
                """
                INSERT INTO turns(task, holder, taken) VALUES (?, ?, ?)
                ON CONFLICT(task) DO UPDATE SET holder = excluded.holder, taken = excluded.taken
                WHERE turns.taken <= excluded.taken - ?
                """
            ).execute(arguments: [task, holder, now.timeIntervalSince1970, every])
            return db.changesCount == 1
        }
    }

    public func leases() async throws -> [WriterLease] {
        try read { db in
            try Row.fetchAll(try db.prepared("SELECT * FROM leases ORDER BY started")).map { row in
                WriterLease(
                    id: row["id"], holder: row["holder"],
                    started: Date(timeIntervalSince1970: row["started"]),
                    heartbeat: Date(timeIntervalSince1970: row["heartbeat"]))
            }
        }
    }

    // MARK: Erasures

    public func recordErasure(_ erasure: ErasureInfo, entries: [ErasedEntry]) async throws {
        try await database.write { db in
            try db.execute(
                sql: "INSERT INTO erasures(id, time, requester, reason, selection) VALUES (?, ?, ?, ?, ?)",
                arguments: [
                    erasure.id, erasure.time.timeIntervalSince1970, erasure.requester, erasure.reason,
                    erasure.selection,
                ])
            let insert = try db.makeStatement(
                sql: """
                    INSERT INTO erased_entries(hash, repo, path, size, erasure, remainder) VALUES (?, ?, ?, ?, ?, ?)
                    ON CONFLICT(hash, repo, path) DO UPDATE SET remainder = excluded.remainder
                    WHERE excluded.remainder IS NOT NULL
                    """)
            for entry in entries {
                try insert.execute(
                    arguments: [entry.hash.hex, entry.repo, entry.path, entry.size, erasure.id, entry.remainder])
            }
        }
    }

    public func erasure(repo: String, path: String, hash: BlobHash) async throws -> ErasureInfo? {
        try read { db in
            try Row.fetchOne(
                try db.prepared(
                    """
                    SELECT e.* FROM erased_entries x JOIN erasures e ON e.id = x.erasure
                    WHERE x.hash = ? AND x.repo = ? AND x.path = ?
                    """), arguments: [hash.hex, repo, path]
            ).map(Self.erasure)
        }
    }

    public func remainder(repo: String, path: String, hash: BlobHash) async throws -> Data? {
        try read { db in
            try Data.fetchOne(
                try db.prepared("SELECT remainder FROM erased_entries WHERE hash = ? AND repo = ? AND path = ?"),
                arguments: [hash.hex, repo, path])
        }
    }

    public func erasureCount() async throws -> Int {
        try read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM erasures") ?? 0 }
    }

    public func isErased(_ hash: BlobHash) async throws -> Bool {
        try read { db in try Self.isErased(hash, db) }
    }

    /// Whether an erasure took `hash`, read in `db`'s transaction (the blob journal checks it in a commit's).
    static func isErased(_ hash: BlobHash, _ db: Database) throws -> Bool {
        try Bool.fetchOne(
            try db.prepared("SELECT 1 FROM erased_entries WHERE hash = ? LIMIT 1"), arguments: [hash.hex]) != nil
    }

    public func erasures() async throws -> [(erasure: ErasureInfo, entries: Int)] {
        try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT e.*, (SELECT count(*) FROM erased_entries x WHERE x.erasure = e.id) AS entries
                    FROM erasures e ORDER BY time DESC, id
                    """
            ).map { (Self.erasure($0), $0["entries"]) }
        }
    }

    private static func erasure(_ row: Row) -> ErasureInfo {
        ErasureInfo(
            id: row["id"], time: Date(timeIntervalSince1970: row["time"]), requester: row["requester"],
            reason: row["reason"], selection: row["selection"])
    }

    // MARK: Row mapping

    private static func requireRepo(_ name: String, _ db: Database) throws {
        if try Bool.fetchOne(try db.prepared("SELECT 1 FROM repos WHERE name = ?"), arguments: [name]) == nil {
            throw VigilError.repoNotFound(name)
        }
    }

    private static func repo(_ row: Row) -> RepoInfo {
        RepoInfo(
            name: row["name"], description: row["description"], created: Date(timeIntervalSince1970: row["created"]))
    }

    private static func branch(_ row: Row) -> BranchInfo {
        BranchInfo(repo: row["repo"], name: row["name"], head: row["head"])
    }

    private static func commit(_ row: Row, _ db: Database) throws -> CommitInfo {
        let id: String = row["id"]
        let treeHex: String = row["tree"]
        guard let tree = BlobHash(hex: treeHex) else {
            throw VigilError(.corruptData, "commit \(id) names a malformed tree hash", value: treeHex)
        }
        let inputs = try Row.fetchAll(
            try db.prepared("SELECT repo, input FROM commit_inputs WHERE commit_id = ? ORDER BY position"),
            arguments: [id]
        ).map { CommitReference(repo: $0[0], commit: $0[1]) }
        var meta: TreeRoot?
        if let metaHex: String = row["meta"] {
            guard let hash = BlobHash(hex: metaHex) else {
                throw VigilError(.corruptData, "commit \(id) names a malformed meta tree hash", value: metaHex)
            }
            meta = TreeRoot(hash: hash, size: row["meta_size"], files: row["meta_files"])
        }
        return CommitInfo(
            id: id, repo: row["repo"], branch: row["branch"], parent: row["parent"],
            tree: TreeRoot(hash: tree, size: row["size"], files: row["files"]),
            author: row["author"], message: row["message"],
            provenance: Provenance(inputs: inputs, origin: row["origin"]),
            started: Date(timeIntervalSince1970: row["started"]),
            finished: Date(timeIntervalSince1970: row["finished"]),
            meta: meta, traces: TraceHeaders.map(columnText: row["traces"]))
    }
}

extension SQLiteMetadataStore: CommitsByOthers {
    public func commitsByOthers() async throws -> Int {
        try await SQLiteFiles.commitsByOthers(database)
    }
}
