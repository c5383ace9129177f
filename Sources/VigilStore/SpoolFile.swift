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
        url = folder.appendingPathComponent(name)
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
    public func finish() throws -> BlobHash {
        if descriptor >= 0 {
            let closed = close(descriptor)
            descriptor = -1
            guard closed == 0 else { throw VigilError.io("close", url.path, errno: errno) }
        }
        return BlobHash(digest: hasher.finalize())
    }

    /// Closes and removes the file if it is still there (a store that took it leaves nothing to remove).
    public func discard() {
        if descriptor >= 0 {
            close(descriptor)
            descriptor = -1
        }
        unlink(url.path)
    }
}
