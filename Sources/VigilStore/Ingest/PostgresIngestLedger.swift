import Foundation
import PostgresNIO

/// `IngestLedger` on the shared PostgreSQL database: every host that ingests from a bucket skips what any of
/// them fetched.
public final class PostgresIngestLedger: IngestLedger {
    private let database: PostgresDatabase

    /// The ledger on `database`, whose `schema` must have been applied (the composition root does it).
    public init(database: PostgresDatabase) {
        self.database = database
    }

    public static let schema = PostgresSchema(
        component: "ingest",
        migrations: [
            [
                """
                CREATE TABLE ingest_ledger(
                    key text COLLATE "C" PRIMARY KEY, etag text NOT NULL, size bigint NOT NULL, hash text NOT NULL)
                """
            ]
        ])

    public func entries(under prefix: String) async throws -> [String: IngestLedgerEntry] {
        var out: [String: IngestLedgerEntry] = [:]
        let rows = try await database.rows(
            "reading the S3 ingest ledger under \(prefix)",
            """
            SELECT key, etag, size, hash FROM ingest_ledger
            WHERE key >= \(prefix) AND key < \(Self.end(of: prefix))
            """)
        for row in rows {
            let (key, etag, size, hex) = try row.decode((String, String, Int64, String).self)
            guard let hash = BlobHash(hex: hex) else { continue }
            out[key] = IngestLedgerEntry(etag: etag, size: size, hash: hash)
        }
        return out
    }

    public func record(_ entries: [String: IngestLedgerEntry]) async throws {
        guard !entries.isEmpty else { return }
        let keys = Array(entries.keys)
        let values = keys.map { entries[$0]! }
        _ = try await database.rows(
            "recording \(entries.count) objects in the S3 ingest ledger",
            """
            INSERT INTO ingest_ledger(key, etag, size, hash)
            SELECT * FROM unnest(\(keys)::text[], \(values.map(\.etag))::text[], \(values.map(\.size))::bigint[],
                                 \(values.map(\.hash.hex))::text[])
            ON CONFLICT (key) DO UPDATE SET etag = excluded.etag, size = excluded.size, hash = excluded.hash
            """)
    }
}
