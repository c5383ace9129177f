import Crypto
import Foundation
import GRDB
import VigilStore

/// API tokens and the audit log, in `<home>/access.sqlite`.
///
/// A token is `vgl_<id>_<secret>`; only its SHA-256 is stored, so the database cannot hand out working
/// tokens, and a token is shown once, when created. The audit log is written with `synchronous = FULL`:
/// an entry acknowledged is on disk, power cut or not.
public final class AccessDatabase: Sendable {
    private let database: any DatabaseWriter

    public static let fileName = "access.sqlite"

    public init(path: String) throws {
        do {
            database = try SQLiteFiles.pool(path: path, synchronous: "FULL", migrator: Self.migrator)
        } catch {
            throw AccessError(.io, "cannot open the access database '\(path)': \(error)", value: path)
        }
    }

    /// An in-memory database (tests).
    public init() throws {
        database = try SQLiteFiles.memory(migrator: Self.migrator)
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
        return migrator
    }

    // MARK: Tokens

    /// A token as listed: everything but its secret.
    public struct TokenInfo: Sendable, Hashable, Codable {
        public var id: String
        public var name: String
        public var role: Role
        public var customer: String?
        public var device: String?
        public var created: Date
        public var revoked: Date?
    }

    /// Makes a token; returns it whole (the only time it is seen) and its record.
    public func createToken(
        name: String, role: Role, customer: String? = nil, device: String? = nil, at now: Date
    )
        async throws -> (token: String, info: TokenInfo)
    {
        switch role {
        case .customer where customer == nil || device != nil:
            throw AccessError(.badToken, "a customer token needs --customer ID (and no --device)")
        case .device where device == nil || customer != nil:
            throw AccessError(.badToken, "a device token needs --device ID (and no --customer)")
        case .admin where customer != nil || device != nil, .operator where customer != nil || device != nil:
            throw AccessError(.badToken, "an \(role.rawValue) token sees everything: give no --customer or --device")
        default: break
        }
        let id = Self.hex(Self.random(6))
        let token = "vgl_\(id)_\(Self.hex(Self.random(32)))"
        let info = TokenInfo(id: id, name: name, role: role, customer: customer, device: device, created: now)
        try await database.write { db in
            try db.execute(
                sql: """
                    INSERT INTO tokens(id, secret_sha256, name, role, customer, device, created)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    id, Self.digest(token), name, role.rawValue, customer, device, now.timeIntervalSince1970,
                ])
        }
        return (token, info)
    }

    /// The principal a presented token stands for; `unauthenticated` for anything but a live token.
    public func authenticate(_ token: String) throws -> Principal {
        let parts = token.split(separator: "_")
        guard parts.count == 3, parts[0] == "vgl", parts[1].utf8.count == 12 else {
            throw AccessError(.unauthenticated, "the token is not a Vigil token (vgl_<id>_<secret>)")
        }
        let id = String(parts[1])
        let row = try database.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM tokens WHERE id = ?", arguments: [id])
        }
        guard let row, Self.constantTimeEqual(row["secret_sha256"], Self.digest(token)) else {
            throw AccessError(.unauthenticated, "unknown token", value: id)
        }
        guard (row["revoked"] as Double?) == nil else {
            throw AccessError(.unauthenticated, "token \(id) was revoked", value: id)
        }
        return Principal(
            tokenID: id, name: row["name"], role: Role(rawValue: row["role"]) ?? .device, customer: row["customer"],
            device: row["device"])
    }

    public func tokens() throws -> [TokenInfo] {
        try database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM tokens ORDER BY created").map { row in
                TokenInfo(
                    id: row["id"], name: row["name"], role: Role(rawValue: row["role"]) ?? .device,
                    customer: row["customer"], device: row["device"],
                    created: Date(timeIntervalSince1970: row["created"]),
                    revoked: (row["revoked"] as Double?).map(Date.init(timeIntervalSince1970:)))
            }
        }
    }

    public func revoke(_ id: String, at now: Date) async throws {
        try await database.write { db in
            try db.execute(
                sql: "UPDATE tokens SET revoked = ? WHERE id = ? AND revoked IS NULL",
                arguments: [now.timeIntervalSince1970, id])
            guard db.changesCount > 0 else {
                throw AccessError(
                    .tokenNotFound, "no live token '\(id)'; `vigil token list` shows the tokens there are", value: id)
            }
        }
    }

    // MARK: Audit

    public func record(_ entry: AuditEntry) async throws {
        try await database.write { db in
            try db.execute(
                sql: """
                    INSERT INTO audit(time, token, principal, role, action, target, status, detail)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    entry.time.timeIntervalSince1970, entry.tokenID, entry.principal, entry.role, entry.action,
                    entry.target, entry.status, entry.detail,
                ])
        }
    }

    /// Audit entries, newest first: all, or one token's, since a time.
    public func audit(token: String? = nil, since: Date? = nil, limit: Int = 100) throws -> [AuditEntry] {
        try database.read { db in
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

    // MARK: Helpers

    private static func random(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    private static func hex(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    private static func digest(_ token: String) -> Data {
        Data(SHA256.hash(data: Data(token.utf8)))
    }

    private static func constantTimeEqual(_ a: Data, _ b: Data) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
