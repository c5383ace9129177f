import Crypto
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A file written a chunk at a time (an upload streaming in) and hashed as it is written, so that a store can
/// take the file itself as the blob (`BlobStore.put(movingFile:hash:size:)`) instead of reading it again,
/// hashing it again and writing a copy. Used by one task at a time.
public final class SpoolFile {
    public let url: URL
    private var descriptor: Int32
    private var hasher = SHA256()
    public private(set) var size: Int64 = 0

    /// Creates a new, private file named `name` in `folder`. It is read-only from the start (this descriptor
    /// still writes): a blob's mode, so a store taking it need not change the mode, which would be one more
    /// metadata write for the filesystem's journal per upload.
    public init(in folder: URL, name: String) throws {
        // Said to be a file: otherwise Foundation asks the file system whether the name is a folder.
        url = folder.appendingPathComponent(name, isDirectory: false)
        descriptor = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o400)
        guard descriptor >= 0 else { throw VigilError.io("create", url.path, errno: errno) }
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
    }

    /// Writes `bytes` at the end and adds them to the hash.
    public func append(_ bytes: UnsafeRawBufferPointer) throws {
        guard descriptor >= 0 else { throw VigilError(.io, "the spool file is closed", value: url.path) }
        var offset = 0
        while offset < bytes.count {
            let written = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw VigilError.io("write", url.path, errno: errno)
            }
            offset += written
        }
        hasher.update(bufferPointer: bytes)
        size += Int64(bytes.count)
    }

    /// Closes the file and returns its bytes' hash (what `put(movingFile:hash:size:)` takes).
    /// `startingWriteback`: the file is made durable next (a store on this disk takes it as the blob, and its
    /// commit's barrier syncs it), so the disk is asked to start writing it now, without waiting: the barrier
    /// then finds the bytes written or on their way instead of starting them itself. Only a hint; the barrier
    /// is still what makes them durable.
    public func finish(startingWriteback: Bool = false) throws -> BlobHash {
        if descriptor >= 0 {
            #if os(Linux)
                if startingWriteback { _ = linuxSyncFileRange(descriptor, 0, 0, Self.startWriteback) }
            #endif
            let closed = close(descriptor)
            descriptor = -1
            guard closed == 0 else { throw VigilError.io("close", url.path, errno: errno) }
        }
        return BlobHash(digest: hasher.finalize())
    }

    #if os(Linux)
        /// `SYNC_FILE_RANGE_WRITE`: start writing back the range's dirty pages, without waiting for them.
        private static let startWriteback: UInt32 = 2
    #endif

    /// Closes and removes the file if it is still there (a store that took it leaves nothing to remove).
    public func discard() {
        if descriptor >= 0 {
            close(descriptor)
            descriptor = -1
        }
        unlink(url.path)
    }
}

#if os(Linux)
    /// glibc declares `sync_file_range` only under `_GNU_SOURCE`, which the Glibc module is not built with.
    @_silgen_name("sync_file_range")
    private func linuxSyncFileRange(_ fd: Int32, _ offset: Int64, _ count: Int64, _ flags: UInt32) -> Int32
#endif
