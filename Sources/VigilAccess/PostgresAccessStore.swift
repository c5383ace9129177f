import Foundation
import PostgresNIO
import VigilStore

/// `AccessStore` on the shared PostgreSQL database: every API process checks tokens against, and writes its
/// audit entries to, the same tables. An entry is acknowledged once its transaction has committed; entries
/// recorded together share one transaction (`BatchedWriter`).
public final class PostgresAccessStore: AccessStore {
    private let database: VigilStore.PostgresDatabase
    private let auditWrites: BatchedWriter<AuditEntry>

    /// The store on `database`, whose `schema` must have been applied (the composition root does it).
    public init(database: VigilStore.PostgresDatabase) {
        self.database = database
        auditWrites = BatchedWriter { entries in
            try await database.withTransaction("writing the audit log") { connection in
                for entry in entries {
                    _ = try await connection.rows(
                        """
                        INSERT INTO audit(time, token, principal, role, action, target, status, detail)
                        VALUES (\(entry.time.timeIntervalSince1970), \(entry.tokenID), \(entry.principal),
                                \(entry.role), \(entry.action), \(entry.target), \(entry.status), \(entry.detail))
                        """)
                }
            }
        }
    }

    public static let schema = PostgresSchema(
        component: "access",
        migrations: [
            [
                """
                CREATE TABLE tokens(
                    id text COLLATE "C" PRIMARY KEY, seq bigint GENERATED ALWAYS AS IDENTITY,
                    secret_sha256 bytea NOT NULL, name text NOT NULL, role text NOT NULL, customer text, device text,
                    created double precision NOT NULL, revoked double precision)
                """,
                """
                CREATE TABLE audit(
                    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, time double precision NOT NULL,
                    token text NOT NULL, principal text NOT NULL, role text NOT NULL, action text NOT NULL,
                    target text, status integer NOT NULL, detail text)
                """,
                "CREATE INDEX audit_by_time ON audit(time)",
                "CREATE INDEX audit_by_token ON audit(token, seq)",
            ],
            ["ALTER TABLE tokens ADD COLUMN expires double precision"],
        ])

    public func insertToken(_ info: TokenInfo, secretSHA256: Data) async throws {
        _ = try await database.rows(
            "recording token \(info.id)",
            """
            INSERT INTO tokens(id, secret_sha256, name, role, customer, device, created, expires)
            VALUES (\(info.id), \(ByteBuffer(bytes: secretSHA256)), \(info.name), \(info.role.rawValue),
                    \(info.customer), \(info.device), \(info.created.timeIntervalSince1970),
                    \(info.expires?.timeIntervalSince1970))
            """)
    }

    public func tokenRecord(id: String) async throws -> (info: TokenInfo, secretSHA256: Data)? {
        try await database.rows(
            "checking token \(id)", "SELECT \(unescaped: Self.tokenColumns), secret_sha256 FROM tokens WHERE id = \(id)"
        ).first.map { row in
            let digest = try row.makeRandomAccess()[9].decode(ByteBuffer.self)
            return (try Self.token(row), Data(digest.readableBytesView))
        }
    }

    public func tokens() async throws -> [TokenInfo] {
        try await database.rows(
            "listing tokens", "SELECT \(unescaped: Self.tokenColumns) FROM tokens ORDER BY created, seq"
        ).map(Self.token)
    }

    public func revoke(_ id: String, at now: Date) async throws {
        let revoked = try await database.rows(
            "revoking token \(id)",
            "UPDATE tokens SET revoked = \(now.timeIntervalSince1970) WHERE id = \(id) AND revoked IS NULL RETURNING 1")
        guard !revoked.isEmpty else {
            throw AccessError(
                .tokenNotFound, "no live token '\(id)'; `vigil token list` shows the tokens there are", value: id)
        }
    }

    public func record(_ entry: AuditEntry) async throws {
        try await auditWrites.submit(entry)
    }

    public func pruneAudit(before cutoff: Date, limit: Int) async throws -> Int {
        try await database.rows(
            "pruning the audit log",
            """
            DELETE FROM audit WHERE seq IN (
                SELECT seq FROM audit WHERE time < \(cutoff.timeIntervalSince1970) ORDER BY time LIMIT \(limit))
            RETURNING 1
            """
        ).count
    }

    public func audit(token: String?, since: Date?, limit: Int) async throws -> [AuditEntry] {
        try await database.rows(
            "reading the audit log",
            """
            SELECT seq, time, token, principal, role, action, target, status, detail FROM audit
            WHERE (\(token)::text IS NULL OR token = \(token)) AND time >= \(since?.timeIntervalSince1970 ?? 0)
            ORDER BY seq DESC LIMIT \(limit)
            """
        ).map { row in
            let (sequence, time, token, principal, role, action, target, status, detail) = try row.decode(
                (Int64, Double, String, String, String, String, String?, Int, String?).self)
            return AuditEntry(
                sequence: sequence, time: Date(timeIntervalSince1970: time), tokenID: token, principal: principal,
                role: role, action: action, target: target, status: status, detail: detail)
        }
    }

    private static let tokenColumns = "id, name, role, customer, device, created, revoked, seq, expires"

    private static func token(_ row: PostgresRow) throws -> TokenInfo {
        let cells = row.makeRandomAccess()
        return TokenInfo(
            id: try cells[0].decode(String.self), name: try cells[1].decode(String.self),
            role: Role(rawValue: try cells[2].decode(String.self)) ?? .device,
            customer: try cells[3].decode(String?.self), device: try cells[4].decode(String?.self),
            created: Date(timeIntervalSince1970: try cells[5].decode(Double.self)),
            revoked: try cells[6].decode(Double?.self).map(Date.init(timeIntervalSince1970:)),
            expires: try cells[8].decode(Double?.self).map(Date.init(timeIntervalSince1970:)))
    }
}
