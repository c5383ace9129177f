import Foundation
import GRDB
import VigilStore

/// `AccessStore` on SQLite: API tokens and the audit log in `<home>/access.sqlite` (or in memory for tests).
/// The audit log is written with `synchronous = FULL`: an entry acknowledged is on disk, power cut or not.
/// Entries recorded together share one transaction, so one wait for the disk (`BatchedWriter`).
public final class AccessDatabase: AccessStore {
    private let database: any DatabaseWriter
    private let auditWrites: BatchedWriter<AuditEntry>

    public static let fileName = "access.sqlite"

    public convenience init(path: String) throws {
        let database: any DatabaseWriter
        do {
            database = try SQLiteFiles.pool(path: path, synchronous: "FULL", migrator: Self.migrator)
        } catch {
            throw AccessError(.io, "cannot open the access database '\(path)': \(error)", value: path)
        }
        self.init(database)
    }

    private init(_ database: any DatabaseWriter) {
        self.database = database
        auditWrites = BatchedWriter { entries in try await Self.insert(entries, into: database) }
    }

    /// An in-memory database (tests).
    public convenience init() throws {
        self.init(try SQLiteFiles.memory(migrator: Self.migrator))
    }

    public static func open(home: URL) throws -> AccessDatabase {
        try AccessDatabase(path: home.appendingPathComponent(fileName).path)
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE tokens(
                        id TEXT PRIMARY KEY, secret_sha256 BLOB NOT NULL, name TEXT NOT NULL, role TEXT NOT NULL,
                        customer TEXT, device TEXT, created REAL NOT NULL, revoked REAL);
                    CREATE TABLE audit(
                        seq INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, token TEXT NOT NULL,
                        principal TEXT NOT NULL, role TEXT NOT NULL, action TEXT NOT NULL, target TEXT,
                        status INTEGER NOT NULL, detail TEXT);
                    CREATE INDEX audit_by_time ON audit(time);
                    CREATE INDEX audit_by_token ON audit(token, time);
                    """)
        }
        migrator.registerMigration("v2: token expiry") { db in
            try db.execute(sql: "ALTER TABLE tokens ADD COLUMN expires REAL")
        }
        return migrator
    }

    /// Reads on the calling task (a WAL reader never waits for a writer): every request authenticates.
    private func read<T>(_ body: (Database) throws -> T) throws -> T {
        try database.read(body)
    }

    // MARK: Tokens

    public func insertToken(_ info: TokenInfo, secretSHA256: Data) async throws {
        try await database.write { db in
            try db.execute(
                sql: """
                    INSERT INTO tokens(id, secret_sha256, name, role, customer, device, created, expires)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    info.id, secretSHA256, info.name, info.role.rawValue, info.customer, info.device,
                    info.created.timeIntervalSince1970, info.expires?.timeIntervalSince1970,
                ])
        }
    }

    public func tokenRecord(id: String) async throws -> (info: TokenInfo, secretSHA256: Data)? {
        try read { db in
            try Row.fetchOne(try db.prepared("SELECT * FROM tokens WHERE id = ?"), arguments: [id]).map {
                (Self.token($0), $0["secret_sha256"])
            }
        }
    }

    public func tokens() async throws -> [TokenInfo] {
        try read { db in
            try Row.fetchAll(try db.prepared("SELECT * FROM tokens ORDER BY created, rowid")).map(Self.token)
        }
    }

    private static func token(_ row: Row) -> TokenInfo {
        TokenInfo(
            id: row["id"], name: row["name"], role: Role(rawValue: row["role"]) ?? .device,
            customer: row["customer"], device: row["device"], created: Date(timeIntervalSince1970: row["created"]),
            revoked: (row["revoked"] as Double?).map(Date.init(timeIntervalSince1970:)),
            expires: (row["expires"] as Double?).map(Date.init(timeIntervalSince1970:)))
    }

    public func revoke(_ id: String, at now: Date) async throws {
        try await database.write { db in
            try db.prepared("UPDATE tokens SET revoked = ? WHERE id = ? AND revoked IS NULL").execute(arguments: [
                now.timeIntervalSince1970, id,
            ])
            guard db.changesCount > 0 else {
                throw AccessError(
                    .tokenNotFound, "no live token '\(id)'; `vigil token list` shows the tokens there are", value: id)
            }
        }
    }

    // MARK: Audit

    public func record(_ entry: AuditEntry) async throws {
        try await auditWrites.submit(entry)
    }

    private static func insert(_ entries: [AuditEntry], into database: any DatabaseWriter) async throws {
        try await database.write { db in
            let insert = try db.prepared(
                """
                INSERT INTO audit(time, token, principal, role, action, target, status, detail)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for entry in entries {
                try insert.execute(arguments: [
                    entry.time.timeIntervalSince1970, entry.tokenID, entry.principal, entry.role, entry.action,
                    entry.target, entry.status, entry.detail,
                ])
            }
        }
    }

    public func pruneAudit(before cutoff: Date, limit: Int) async throws -> Int {
        try await database.write { db in
            try db.prepared(
                "DELETE FROM audit WHERE seq IN (SELECT seq FROM audit WHERE time < ? ORDER BY time LIMIT ?)"
            ).execute(arguments: [cutoff.timeIntervalSince1970, limit])
            return db.changesCount
        }
    }

    public func audit(token: String?, since: Date?, limit: Int) async throws -> [AuditEntry] {
        try read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM audit WHERE (? IS NULL OR token = ?) AND time >= ?
                    ORDER BY seq DESC LIMIT ?
                    """,
                arguments: [token, token, since?.timeIntervalSince1970 ?? 0, limit]
            ).map { row in
                AuditEntry(
                    sequence: row["seq"], time: Date(timeIntervalSince1970: row["time"]), tokenID: row["token"],
                    principal: row["principal"], role: row["role"], action: row["action"], target: row["target"],
                    status: row["status"], detail: row["detail"])
            }
        }
    }
}
