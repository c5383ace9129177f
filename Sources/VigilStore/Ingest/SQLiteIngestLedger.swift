import Foundation
import GRDB

/// `IngestLedger` in SQLite: `<home>/s3-ingest.sqlite` on the embedded default, or in memory.
public final class SQLiteIngestLedger: IngestLedger {
    private let database: any DatabaseWriter

    /// `synchronous = NORMAL`: a power cut may lose the last entries, which costs downloads, never data.
    public init(path: String) throws {
        do {
            database = try SQLiteFiles.pool(path: path, synchronous: "NORMAL", migrator: Self.migrator)
        } catch {
            throw VigilError(.io, "cannot open the S3 ingest ledger '\(path)': \(error)", value: path)
        }
    }

    /// An in-memory ledger, gone with the object (tests).
    public init() throws {
        database = try SQLiteFiles.memory(migrator: Self.migrator)
    }

    /// The embedded default: `<home>/s3-ingest.sqlite`.
    public static func open(home: URL) throws -> SQLiteIngestLedger {
        try SQLiteIngestLedger(path: home.appendingPathComponent(fileName).path)
    }

    public static let fileName = "s3-ingest.sqlite"

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE objects(
                        key TEXT PRIMARY KEY, etag TEXT NOT NULL, size INTEGER NOT NULL, hash TEXT NOT NULL)
                    """)
        }
        return migrator
    }

    public func entries(under prefix: String) async throws -> [String: IngestLedgerEntry] {
        try await database.read { db in
            var out: [String: IngestLedgerEntry] = [:]
            let rows = try Row.fetchAll(
                db, sql: "SELECT key, etag, size, hash FROM objects WHERE key >= ? AND key < ?",
                arguments: [prefix, Self.end(of: prefix)])
            for row in rows {
                guard let hash = BlobHash(hex: row["hash"] as String) else { continue }
                out[row["key"]] = IngestLedgerEntry(etag: row["etag"], size: row["size"], hash: hash)
            }
            return out
        }
    }

    public func record(_ entries: [String: IngestLedgerEntry]) async throws {
        guard !entries.isEmpty else { return }
        try await database.write { db in
            for (key, entry) in entries {
                try db.execute(
                    sql: "INSERT OR REPLACE INTO objects(key, etag, size, hash) VALUES (?, ?, ?, ?)",
                    arguments: [key, entry.etag, entry.size, entry.hash.hex])
            }
        }
    }
}
