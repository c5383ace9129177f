import Foundation

/// How a commit's blobs are made durable before its head moves: their bytes in the head's transaction, or a
/// barrier of the blob store's before it.
struct BlobDurability: Sendable {
    /// The bytes for the head's transaction to journal; nil when there is nothing to journal.
    var journaled: [JournaledBlob]?
    /// After a barrier: the journal position read before it began, which it covers.
    var covered: Int64?
}

extension VersionedStore {
    /// Makes every blob this process wrote durable, or hands back the bytes the head's transaction must journal
    /// for that (`BlobJournal`): a commit of small blobs (a pipeline's records and tree nodes) then waits for one
    /// sync of the database instead of a `syncfs` and then that sync.
    func makeBlobsDurable() async throws -> BlobDurability {
        let journal = metadata.blobJournal
        // A process whose own commits never wait for a barrier (all small) still makes one now and then, so that
        // the journal stays a few batches long.
        if journal != nil, journalRowsKept.withLock({ $0 }) < Self.journalRowsBeforeBarrier,
            let unsynced = blobs.unsyncedSmallBlobs()
        {
            return BlobDurability(journaled: unsynced.isEmpty ? nil : unsynced)
        }
        // Once this process has journaled a batch of rows, the barrier is a chance to drop them: the position read
        // before it begins is what it covers.
        let due = journalRowsKept.withLock { rows in
            guard rows >= Self.journalForgetBatch else { return false }
            rows = 0
            return true
        }
        let covered = due ? try await journal?.journalPosition() : nil
        try await blobs.flush()
        return BlobDurability(covered: covered)
    }

    /// `metadata.append(together:)`, journaling what `durability` says; one commit not journaled goes through
    /// `metadata.append`, the store's statement for a single commit.
    func append(together requests: [CommitAppendRequest], _ durability: BlobDurability) async throws -> CommitAppend {
        if let journaled = durability.journaled, let journal = metadata.blobJournal {
            if let appended = try await journal.append(together: requests, journaling: journaled) {
                if appended == .appended {
                    blobs.journaled(journaled.map(\.hash))
                    journalRowsKept.withLock { $0 += journaled.count }
                }
                return appended
            }
            // An erasure named one of them: a barrier instead, which also drops the erased bytes kept in memory.
            try await blobs.flush()
        }
        if requests.count == 1, let only = requests.first {
            return try await metadata.append(
                only.commit, expectedHead: only.expectedHead, releasingLease: only.releasingLease)
        }
        return try await metadata.append(together: requests)
    }

    /// After a barrier, drops the journal rows it covered (`makeBlobsDurable` reads where they end once this
    /// process has journaled a batch: each drop is a write transaction). A failure only leaves rows for a later
    /// barrier or the next open to drop.
    func forgetJournalCovered(by durability: BlobDurability) async {
        guard let covered = durability.covered, let journal = metadata.blobJournal else { return }
        do {
            try await journal.forgetJournal(upTo: covered)
        } catch {
            logger.warning("could not drop journaled blobs a barrier covered", metadata: ["error": "\(error)"])
        }
    }

    /// Rows this process journals before a barrier drops them.
    static let journalForgetBatch = 64
    /// Rows this process journals before its next commit waits for a barrier itself.
    static let journalRowsBeforeBarrier = 128

    /// Writes again, from the journal, every blob a power cut lost or left torn, then syncs the blobs and drops
    /// the rows: run when the store is opened, before anything reads a blob. Returns how many were written.
    @discardableResult
    public func recoverJournaledBlobs() async throws -> Int {
        guard let journal = metadata.blobJournal else { return 0 }
        let position = try await journal.journalPosition()
        guard position > 0 else { return 0 }
        var restored = 0
        for blob in try await journal.journaledBlobs(upTo: position) {
            guard BlobHash(of: blob.bytes) == blob.hash else {
                logger.error(
                    "a journaled blob does not hash to its address; skipped", metadata: ["blob": "\(blob.hash)"])
                continue
            }
            // An erasure that ran while this process read the journal: its bytes are not written back.
            if try await metadata.isErased(blob.hash) { continue }
            if try await blobs.restore(blob.bytes) { restored += 1 }
        }
        try await blobs.flush()
        try await journal.forgetJournal(upTo: position)
        if restored > 0 {
            logger.notice("blobs written again from the journal", metadata: ["blobs": "\(restored)"])
        }
        return restored
    }
}
