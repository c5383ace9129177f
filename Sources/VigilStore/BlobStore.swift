import Foundation

/// What a `BlobStore` holds about one blob when listing.
public struct BlobInfo: Sendable, Hashable {
    public var hash: BlobHash
    public var size: Int64
    /// When the blob was last written or freshened; gc keeps anything newer than its cut-off.
    public var modified: Date

    public init(hash: BlobHash, size: Int64, modified: Date) {
        self.hash = hash
        self.size = size
        self.modified = modified
    }
}

/// The result of putting bytes into a `BlobStore`.
public struct BlobWrite: Sendable, Hashable {
    public var hash: BlobHash
    public var size: Int64
    /// False when the store already had these bytes, so nothing new was stored (dedup).
    public var stored: Bool

    public init(hash: BlobHash, size: Int64, stored: Bool) {
        self.hash = hash
        self.size = size
        self.stored = stored
    }
}

/// Immutable bytes addressed by their SHA-256. Implementations: `FileSystemBlobStore`, `InMemoryBlobStore`
/// (and, behind the same protocol, object storage). Every implementation passes the shared conformance suite.
///
/// The contract that makes gc safe without locks, as in git: putting bytes that already exist *freshens* the
/// blob (its `modified` time moves to now), and `delete(_:ifNotModifiedSince:)` deletes only a blob nobody
/// freshened since the cut-off. A writer that reuses an old blob therefore protects it from a concurrent gc.
public protocol BlobStore: Sendable {
    /// Stores `data` under its hash. Atomic: readers see the whole blob or none of it.
    func put(_ data: Data) async throws -> BlobWrite
    /// Stores a local file's bytes under their hash, streaming it rather than loading it whole.
    func put(contentsOf file: URL) async throws -> BlobWrite
    /// Stores a local file whose bytes the caller hashed as it wrote them (`SpoolFile`), taking the file itself
    /// where the store can (a local store renames it into place: no second read, hash or copy). The file is
    /// gone afterwards, whether its bytes were new or not.
    func put(movingFile file: URL, hash: BlobHash, size: Int64) async throws -> BlobWrite
    /// The blob's bytes; `VigilError.blobNotFound` if absent, `VigilError.corruptData` if what is stored does
    /// not hash to `hash` (a disk error, or someone wrote to the blob): wrong bytes are never returned.
    func get(_ hash: BlobHash) async throws -> Data
    /// Whether the blob exists.
    func contains(_ hash: BlobHash) async throws -> Bool
    /// Every blob; order unspecified. Used by gc and fsck.
    func list() -> AsyncThrowingStream<BlobInfo, any Error>
    /// Deletes the blob unless it was written or freshened at or after `cutoff`. Returns whether it was deleted.
    func delete(_ hash: BlobHash, ifNotModifiedSince cutoff: Date) async throws -> Bool
    /// Makes every blob put so far durable. Called once before a commit that references them is published,
    /// which gives the same guarantee as syncing each blob at a fraction of the cost.
    func flush() async throws
    /// The bytes of every blob this store put that no barrier has made durable yet, for a commit to carry in
    /// its head's transaction instead of waiting for `flush()` (`BlobJournal`); nil when only `flush()` will
    /// do (a large blob among them, or a store that keeps no such list). Empty when everything is durable.
    func unsyncedSmallBlobs() -> [JournaledBlob]?
    /// A commit's transaction journaled these blobs (from `unsyncedSmallBlobs()`): they are durable now.
    func journaled(_ hashes: [BlobHash])
    /// Writes `data` again unless the store holds it whole: after a power cut, from a `BlobJournal`. Replaces a
    /// file whose bytes are wrong (one a power cut left empty). Returns whether it wrote.
    @discardableResult
    func restore(_ data: Data) async throws -> Bool
    /// Removes the leftovers of writes that never finished (a writer killed mid-blob), older than `cutoff`.
    /// Returns how many were removed.
    func removeAbandonedWrites(olderThan cutoff: Date) async throws -> Int
    /// The read-only local file holding the blob, for stores that keep blobs as files (so a command can be
    /// handed a hard link instead of a copy); nil for the others.
    func localPath(of hash: BlobHash) -> String?
    /// Whether a file given to `put(movingFile:hash:size:)` becomes the blob itself, on this machine's disk:
    /// then it pays to start writing the file out as soon as it is complete (`SpoolFile.finish`).
    var takesFilesInPlace: Bool { get }
}

extension BlobStore {
    /// Default for stores whose writes cannot be left half done.
    public func removeAbandonedWrites(olderThan cutoff: Date) async throws -> Int { 0 }

    /// Default: the store keeps no list; its `flush()` is the only way.
    public func unsyncedSmallBlobs() -> [JournaledBlob]? { nil }

    /// Default: nothing kept, nothing to drop.
    public func journaled(_ hashes: [BlobHash]) {}

    /// Default: a put, for stores whose blobs are whole or absent.
    @discardableResult
    public func restore(_ data: Data) async throws -> Bool { try await put(data).stored }

    /// Default: blobs are not local files.
    public func localPath(of hash: BlobHash) -> String? { nil }

    /// Default: a moved file's bytes are copied elsewhere.
    public var takesFilesInPlace: Bool { false }

    /// Default: read the file whole. Stores with a streaming path override this.
    public func put(contentsOf file: URL) async throws -> BlobWrite {
        let data: Data
        do {
            data = try Data(contentsOf: file, options: .mappedIfSafe)
        } catch {
            throw VigilError(.io, "cannot read '\(file.path)': \(error.localizedDescription)", value: file.path)
        }
        return try await put(data)
    }

    /// Default: store a copy (checking it hashes to `hash`), then remove the file.
    public func put(movingFile file: URL, hash: BlobHash, size: Int64) async throws -> BlobWrite {
        defer { try? FileManager.default.removeItem(at: file) }
        let written = try await put(contentsOf: file)
        guard written.hash == hash, written.size == size else {
            throw VigilError(
                .corruptData,
                "'\(file.path)' changed while it was being stored: it hashed to \(written.hash.hex), not \(hash.hex)",
                value: file.path)
        }
        return written
    }

    /// `data` if it hashes to `hash`; else `corrupt-data`, naming where it was read.
    static func verified(_ data: Data, as hash: BlobHash, at place: String) throws -> Data {
        guard BlobHash(of: data) == hash else {
            throw VigilError(
                .corruptData,
                "blob \(hash.hex) at \(place) does not hash to its address: its bytes were changed after it was "
                    + "stored; restore it from a backup (`vigil fsck` lists every such blob)", value: hash.hex)
        }
        return data
    }

    static func notFound(_ hash: BlobHash) -> VigilError {
        VigilError(.blobNotFound, "blob \(hash.hex) is missing from the blob store; run `vigil fsck`", value: hash.hex)
    }
}
