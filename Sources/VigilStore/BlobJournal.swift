import Foundation

/// A small blob's bytes, held in a commit's own transaction until a barrier makes its file durable.
public struct JournaledBlob: Sendable, Hashable {
    public var hash: BlobHash
    public var bytes: Data

    public init(hash: BlobHash, bytes: Data) {
        self.hash = hash
        self.bytes = bytes
    }

    /// `bytes` under their own hash.
    public init(_ bytes: Data) {
        self.init(hash: BlobHash(of: bytes), bytes: bytes)
    }
}

/// Where a metadata store keeps the bytes of the small blobs a commit names, in the transaction that moves its
/// head, so the commit need not wait for the blob store's barrier (a `syncfs`, about a millisecond) before it:
/// the head transaction's one sync makes the commit and its blobs' bytes durable together. The blob files are
/// written as always and read as always; the journal only vouches for them until a later barrier does, and is
/// read back only when a store is opened (files a power cut lost are written again from it).
///
/// Positions only grow: rows up to a position read before a barrier began belong to files that barrier made
/// durable, whichever process wrote them (they share the machine and its file system, as an SQLite file's
/// writers must).
public protocol BlobJournal: Sendable {
    /// `append(together:)`, with the bytes of `blobs` recorded in the same transaction (none when the heads had
    /// moved). Nil, and nothing recorded, when an erasure has named one of `blobs`: its bytes must not be kept
    /// again, so the caller makes the blobs durable with a barrier and appends without the journal. Checked in
    /// the transaction, so an erasure that records its entries before it drops the journal's copies
    /// (`forgetJournaled`) leaves none behind, whatever process journals.
    func append(
        together commits: [CommitAppendRequest], journaling blobs: [JournaledBlob]
    ) async throws
        -> CommitAppend?
    /// The last position recorded, 0 when the journal is empty.
    func journalPosition() async throws -> Int64
    /// Every blob journaled up to `position`, oldest first.
    func journaledBlobs(upTo position: Int64) async throws -> [JournaledBlob]
    /// Drops what was journaled up to `position`, once a barrier that began after it was read has ended.
    func forgetJournal(upTo position: Int64) async throws
    /// Drops every journaled copy of `hashes`: blobs an erasure deletes leave no bytes behind here either.
    func forgetJournaled(_ hashes: [BlobHash]) async throws
}
