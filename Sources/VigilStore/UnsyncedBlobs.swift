import Foundation
import Synchronization

/// The small blobs a local blob store wrote that neither a barrier nor a commit's journal has made durable yet,
/// kept so that a commit can carry their bytes in its own transaction (`BlobJournal`) instead of waiting for a
/// barrier. A write that no transaction should carry (a frame, anything large) is only counted: until a barrier
/// that began after it has ended, commits wait for barriers as before. Bounded: past `totalLimit` bytes, commits
/// wait for a barrier, which empties it.
final class UnsyncedBlobs: Sendable {
    private struct Written {
        var bytes: Data
        var sequence: UInt64
    }

    private struct State {
        var blobs: [BlobHash: Written] = [:]
        var bytes = 0
        /// Counts writes as they complete.
        var sequence: UInt64 = 0
        /// The last write kept out of the journal.
        var lastUnjournaled: UInt64 = 0
        /// Every write up to this one is durable.
        var synced: UInt64 = 0
        /// Blobs journaled since a barrier last ended: files left dirty for the next barrier to write.
        var journaledSinceSync = 0
    }

    private let state = Mutex(State())
    /// Larger blobs are never journaled.
    let blobLimit: Int
    /// More unsynced bytes than this and commits wait for a barrier instead.
    let totalLimit: Int

    init(blobLimit: Int = 64 << 10, totalLimit: Int = 1 << 20) {
        self.blobLimit = blobLimit
        self.totalLimit = totalLimit
    }

    /// A blob's bytes were written (or found already there, perhaps written by another process not yet synced).
    /// Past `totalLimit` the bytes kept are dropped and commits wait for a barrier instead: what is kept stays
    /// bounded however much a long job writes before it commits.
    func wrote(_ hash: BlobHash, bytes: Data) {
        guard bytes.count <= blobLimit else { return wroteUnjournaled() }
        state.withLock { state in
            state.sequence += 1
            if let old = state.blobs.updateValue(Written(bytes: bytes, sequence: state.sequence), forKey: hash) {
                state.bytes -= old.bytes.count
            }
            state.bytes += bytes.count
            if state.bytes > totalLimit {
                state.blobs.removeAll()
                state.bytes = 0
                state.lastUnjournaled = state.sequence
            }
        }
    }

    /// A blob was written that only a barrier can make durable.
    func wroteUnjournaled() {
        state.withLock { state in
            state.sequence += 1
            state.lastUnjournaled = state.sequence
        }
    }

    /// Where writes stand as a barrier begins: it covers every write up to here.
    func mark() -> UInt64 {
        state.withLock { $0.sequence }
    }

    /// A barrier that began at `mark` has ended.
    func synced(upTo mark: UInt64) {
        state.withLock { state in
            guard mark > state.synced else { return }
            state.synced = mark
            state.journaledSinceSync = 0
            state.blobs = state.blobs.filter { $0.value.sequence > mark }
            state.bytes = state.blobs.values.reduce(0) { $0 + $1.bytes.count }
        }
    }

    /// A commit's transaction journaled these: they are durable, and later commits need not journal them again.
    /// Returns true once `batch` blobs were journaled since a barrier last ended (and counts afresh), so that one
    /// barrier is started per batch, not one per commit until it ends.
    func journaled(_ hashes: [BlobHash], batch: Int) -> Bool {
        state.withLock { state in
            for hash in hashes {
                if let removed = state.blobs.removeValue(forKey: hash) { state.bytes -= removed.bytes.count }
            }
            state.journaledSinceSync += hashes.count
            guard state.journaledSinceSync >= batch else { return false }
            state.journaledSinceSync = 0
            return true
        }
    }

    /// Every blob written and not yet synced, when a transaction can carry them all; nil when a barrier is
    /// needed (a write no journal holds is not yet synced, or there is too much). Empty: everything is durable.
    func journal() -> [JournaledBlob]? {
        state.withLock { state in
            guard state.lastUnjournaled <= state.synced, state.bytes <= totalLimit else { return nil }
            return state.blobs.map { JournaledBlob(hash: $0.key, bytes: $0.value.bytes) }
        }
    }
}
