import Foundation

/// What `vigil put s3://…` last fetched from each source object: its ETag and size with the SHA-256 they
/// gave. A re-run skips, without a download, an object whose ETag and size are unchanged and whose remembered
/// hash is what the destination holds. The ledger is only a shortcut: a missing or stale entry costs a
/// download, never a wrong skip (the destination is always compared). Implementations: `SQLiteIngestLedger`
/// (the data folder) and `PostgresIngestLedger` (shared by every host that ingests).
public protocol IngestLedger: Sendable {
    /// The entries whose keys start with `prefix` (`s3://bucket/prefix/`), by key.
    func entries(under prefix: String) async throws -> [String: IngestLedgerEntry]
    /// Adds or replaces entries, in one transaction.
    func record(_ entries: [String: IngestLedgerEntry]) async throws
}

/// One source object as last fetched.
public struct IngestLedgerEntry: Sendable, Hashable, Codable {
    public var etag: String
    public var size: Int64
    public var hash: BlobHash

    public init(etag: String, size: Int64, hash: BlobHash) {
        self.etag = etag
        self.size = size
        self.hash = hash
    }
}

extension IngestLedger {
    /// The upper bound of the keys under `prefix`, for a range scan (keys compare bytewise).
    static func end(of prefix: String) -> String { prefix + "\u{10FFFF}" }
}
