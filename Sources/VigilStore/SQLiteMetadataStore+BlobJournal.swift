import Foundation
import GRDB

extension SQLiteMetadataStore: BlobJournal {
    public var blobJournal: (any BlobJournal)? { self }

    public func append(
        together requests: [CommitAppendRequest], journaling blobs: [JournaledBlob]
    ) async throws -> CommitAppend? {
        /// Thrown inside the transaction so that GRDB rolls back the commits it recorded.
        struct Erased: Error {}
        do {
            return try await append(together: requests) { db in
                let insert = try db.prepared("INSERT INTO blob_journal(hash, bytes) VALUES (?, ?)")
                for blob in blobs {
                    if try Self.isErased(blob.hash, db) { throw Erased() }
                    try insert.execute(arguments: [blob.hash.hex, blob.bytes])
                }
            }
        } catch is Erased {
            return nil
        }
    }

    public func journalPosition() async throws -> Int64 {
        try read { db in
            try Int64.fetchOne(try db.prepared("SELECT max(position) FROM blob_journal")) ?? 0
        }
    }

    public func journaledBlobs(upTo position: Int64) async throws -> [JournaledBlob] {
        try read { db in
            try Row.fetchAll(
                try db.prepared("SELECT hash, bytes FROM blob_journal WHERE position <= ? ORDER BY position"),
                arguments: [position]
            ).map { row in
                let hex: String = row["hash"]
                guard let hash = BlobHash(hex: hex) else {
                    throw VigilError(.corruptData, "the blob journal names a malformed hash", value: hex)
                }
                return JournaledBlob(hash: hash, bytes: row["bytes"])
            }
        }
    }

    /// Need not wait for the disk: rows a power cut brings back are checked against their files and dropped
    /// again when the store is next opened.
    public func forgetJournal(upTo position: Int64) async throws {
        try await deleteJournalRows(waitingForTheDisk: false) { db in
            try db.prepared("DELETE FROM blob_journal WHERE position <= ?").execute(arguments: [position])
        }
    }

    /// And then empties the write-ahead log, whose older pages may still hold the bytes.
    public func forgetJournaled(_ hashes: [BlobHash]) async throws {
        guard !hashes.isEmpty else { return }
        try await deleteJournalRows(waitingForTheDisk: true) { db in
            let delete = try db.prepared("DELETE FROM blob_journal WHERE hash = ?")
            for hash in hashes { try delete.execute(arguments: [hash.hex]) }
        }
        let busy = try await database.writeWithoutTransaction { db in
            try Int.fetchOne(db, sql: "PRAGMA wal_checkpoint(TRUNCATE)") ?? 0
        }
        if busy != 0 {
            throw VigilError(
                .io,
                "the metadata database's log could not be emptied while another process reads it; "
                    + "run the erasure again when it is idle", value: "wal_checkpoint")
        }
    }

    /// Deletes journal rows with SQLite's `secure_delete` on: a journaled frame's bytes are zeroed where they
    /// were, not left in free pages of the file for an erasure to miss.
    private func deleteJournalRows(
        waitingForTheDisk: Bool, _ body: @escaping @Sendable (Database) throws -> Void
    ) async throws {
        let securely: @Sendable (Database) throws -> Void = { db in
            try db.execute(sql: "PRAGMA secure_delete = ON")
            let deleted = Result { try body(db) }
            try db.execute(sql: "PRAGMA secure_delete = OFF")
            try deleted.get()
        }
        if waitingForTheDisk {
            try await database.write(securely)
        } else {
            try await writeWithoutWaitingForTheDisk(securely)
        }
    }
}
