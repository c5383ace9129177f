import Crypto
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A `BlobStore` in a local folder: `<root>/<first two hex digits>/<other 62>`, files read-only once written.
///
/// Writes go to a dot-named temp file in the blob's own fan-out folder and are renamed into place, so a blob is
/// whole or absent, even after `kill -9`. Temp files beside their targets keep the rename within one folder and
/// spread concurrent creates over 256 folders: one shared temp folder made writers queue on its lock (measured:
/// a fifth of ingest time went to the kernel's directory-lock spinning).
/// Instead of an fsync per blob, `flush()` syncs the filesystem once before a commit that references the
/// blobs is published: measured here, per-file fsync capped ingest near 2,500 files/s, one barrier does not.
/// Commits that flush at the same time share a sync, run off the cooperative threads (`SharedBarrier`).
/// With `journaling`, it keeps the small blobs no barrier has covered yet, so that a commit can carry their bytes
/// in its head's transaction instead (`BlobJournal`, `UnsyncedBlobs`).
///
/// The other calls are plain POSIX on the calling task: for local files they take microseconds, less than a
/// hop to a thread pool would cost.
public final class FileSystemBlobStore: BlobStore {
    public let root: URL
    private let rootPath: String
    private let tempPath: String
    /// Files up to this size are read whole and hashed before writing; larger ones stream through a temp file.
    private let wholeFileLimit = 8 << 20
    private let barrier: SharedBarrier
    /// Small blobs written since the last barrier began, when commits may journal them (nil: they may not).
    private let unsynced: UnsyncedBlobs?
    /// `<root>/00` to `<root>/ff`, by `BlobHash.fanOutIndex`.
    private let fanOutFolders: [String]
    /// Files made ahead for the writers while a long-lived process runs it as a service.
    public let precreated: PrecreatedFiles

    /// Opens (creating if needed) a blob store in `root`. With `journaling`, the store keeps the small blobs
    /// no barrier has covered yet, so that commits can journal them instead (`unsyncedSmallBlobs()`).
    public init(root: URL, journaling: Bool = false) throws {
        self.root = root
        rootPath = root.path
        tempPath = rootPath + "/.tmp"
        let unsynced = journaling ? UnsyncedBlobs() : nil
        self.unsynced = unsynced
        barrier = SharedBarrier(label: "vigil-blob-sync") { [rootPath] in
            let mark = unsynced?.mark()
            try Self.syncFileSystem(of: rootPath)
            if let mark { unsynced?.synced(upTo: mark) }
        }
        let folders = (0..<256).map { [rootPath] in rootPath + "/" + String($0, radix: 16).leftPadded(to: 2) }
        fanOutFolders = folders
        precreated = PrecreatedFiles(folders: folders)
        for path in [rootPath, tempPath] where mkdir(path, 0o700) != 0 && errno != EEXIST {
            throw VigilError.io("create folder", path, errno: errno)
        }
        // The fan-out folders, once, so writers never have to create them (the last one marks completion).
        if access(rootPath + "/ff", F_OK) != 0 {
            for folder in folders where mkdir(folder, 0o700) != 0 && errno != EEXIST {
                throw VigilError.io("create folder", folder, errno: errno)
            }
        }
    }

    private func directory(of hash: BlobHash) -> String {
        fanOutFolders[hash.fanOutIndex]
    }

    public func localPath(of hash: BlobHash) -> String? { path(of: hash) }

    /// A spooled file is renamed into place (`put(movingFile:hash:size:)`).
    public var takesFilesInPlace: Bool { true }

    func path(of hash: BlobHash) -> String {
        let hex = hash.hex
        return rootPath + "/" + hex.prefix(2) + "/" + hex.dropFirst(2)
    }

    public func put(_ data: Data) async throws -> BlobWrite {
        let hash = BlobHash(of: data)
        let size = Int64(data.count)
        // Found or written, the blob counts as unsynced: the file found may be another process's, not yet synced.
        if freshen(path(of: hash)) {
            unsynced?.wrote(hash, bytes: data)
            return BlobWrite(hash: hash, size: size, stored: false)
        }
        try write(data, as: hash)
        unsynced?.wrote(hash, bytes: data)
        return BlobWrite(hash: hash, size: size, stored: true)
    }

    public func unsyncedSmallBlobs() -> [JournaledBlob]? {
        unsynced?.journal()
    }

    public func journaled(_ hashes: [BlobHash]) {
        guard let unsynced else { return }
        // The journaled files are synced once writing pauses, before the next upload's barrier would have to;
        // under a steady stream of commits, a batch at a time, so that no barrier has a backlog to write.
        if unsynced.journaled(hashes, batch: 64) {
            barrier.start()
        } else {
            barrier.startWhenQuiet(after: Self.quietBeforeBackgroundBarrier) { unsynced.mark() }
        }
    }

    /// Longer than a frame's inference, during which a camera's frame writes nothing: a barrier then would
    /// run beside the detector, whose time the kernel's writeback takes about one for one (measured with 20 ms:
    /// no gain; docs/benchmarks.md, session 47). Between frames the cores are idle.
    static let quietBeforeBackgroundBarrier = 0.06

    @discardableResult
    public func restore(_ data: Data) async throws -> Bool {
        let hash = BlobHash(of: data)
        if (try? await get(hash)) != nil { return false }
        // Absent, or not these bytes: a new file renamed over whatever is there.
        try write(data, as: hash)
        return true
    }

    /// Writes `data` to a temporary file and renames it to `hash`'s place, replacing any file there: a file
    /// made ahead when one is ready (`PrecreatedFiles`), else one created here.
    private func write(_ data: Data, as hash: BlobHash) throws {
        if let made = precreated.take(folder: hash.fanOutIndex) {
            let fd = open(made, O_WRONLY | O_CLOEXEC)
            if fd >= 0 {
                let written: Bool = data.withUnsafeBytes { (try? writeAll(fd, $0, path: made)) != nil }
                // A blob's mode; the file was made writable so that this descriptor could be opened.
                let readOnly = written && fchmod(fd, 0o400) == 0
                close(fd)
                // Removed meanwhile (a gc run with no grace) or not written: made again the usual way below.
                if readOnly, moveIntoPlace(made, as: hash) == nil { return }
                unlink(made)
            }
        }
        let temp = temporaryPath(for: hash)
        var fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o400)
        if fd < 0, errno == ENOENT {
            // Someone removed the fan-out folder; make it again.
            mkdir(directory(of: hash), 0o700)
            fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o400)
        }
        guard fd >= 0 else { throw VigilError.io("create", temp, errno: errno) }
        do {
            try data.withUnsafeBytes { try writeAll(fd, $0, path: temp) }
            close(fd)
        } catch {
            close(fd)
            unlink(temp)
            throw error
        }
        try install(temp, as: hash)
    }

    public func put(contentsOf file: URL) async throws -> BlobWrite {
        let source = open(file.path, O_RDONLY | O_CLOEXEC)
        guard source >= 0 else { throw VigilError.io("open", file.path, errno: errno) }
        defer { close(source) }
        var info = stat()
        guard fstat(source, &info) == 0 else { throw VigilError.io("stat", file.path, errno: errno) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw VigilError(.notAFile, "'\(file.path)' is not a regular file", value: file.path)
        }
        if Int(info.st_size) <= wholeFileLimit {
            return try await put(readAll(source, sizeHint: Int(info.st_size), path: file.path))
        }
        return try streamLargeFile(source, path: file.path)
    }

    /// The file becomes the blob: made read-only (a `SpoolFile` already is, and its mode is left alone) and
    /// renamed into place, whole as it already is (one filesystem; from another it is copied like any file).
    public func put(movingFile file: URL, hash: BlobHash, size: Int64) async throws -> BlobWrite {
        defer { unsynced?.wroteUnjournaled() }
        let target = path(of: hash)
        if freshen(target) {
            unlink(file.path)
            return BlobWrite(hash: hash, size: size, stored: false)
        }
        var info = stat()
        guard stat(file.path, &info) == 0 else { throw VigilError.io("stat", file.path, errno: errno) }
        if info.st_mode & 0o777 != 0o400 {
            guard chmod(file.path, 0o400) == 0 else { throw VigilError.io("chmod", file.path, errno: errno) }
        }
        if let failure = moveIntoPlace(file.path, as: hash) {
            guard failure.code == EXDEV else { throw failure.error }
            defer { unlink(file.path) }
            return try await put(contentsOf: file)
        }
        return BlobWrite(hash: hash, size: size, stored: true)
    }

    /// Hashes and copies in one pass, then renames into place (or drops the copy if the blob already exists).
    private func streamLargeFile(_ source: Int32, path sourcePath: String) throws -> BlobWrite {
        defer { unsynced?.wroteUnjournaled() }
        let temp = rootPath + "/.tmp/stream." + Hex.randomName()
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o400)
        guard fd >= 0 else { throw VigilError.io("create", temp, errno: errno) }
        var hasher = SHA256()
        var size: Int64 = 0
        let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { chunk.deallocate() }
        do {
            while true {
                let count = read(source, chunk.baseAddress, chunk.count)
                if count < 0 {
                    if errno == EINTR { continue }
                    throw VigilError.io("read", sourcePath, errno: errno)
                }
                if count == 0 { break }
                let filled = UnsafeRawBufferPointer(rebasing: chunk[0..<count])
                hasher.update(bufferPointer: filled)
                try writeAll(fd, filled, path: temp)
                size += Int64(count)
            }
            close(fd)
        } catch {
            close(fd)
            unlink(temp)
            throw error
        }
        let hash = BlobHash(digest: hasher.finalize())
        if freshen(path(of: hash)) {
            unlink(temp)
            return BlobWrite(hash: hash, size: size, stored: false)
        }
        try install(temp, as: hash)
        return BlobWrite(hash: hash, size: size, stored: true)
    }

    public func get(_ hash: BlobHash) async throws -> Data {
        let target = path(of: hash)
        let fd = open(target, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { throw Self.notFound(hash) }
            throw VigilError.io("open", target, errno: errno)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw VigilError.io("stat", target, errno: errno) }
        return try Self.verified(readAll(fd, sizeHint: Int(info.st_size), path: target), as: hash, at: "'\(target)'")
    }

    public func contains(_ hash: BlobHash) async throws -> Bool {
        access(path(of: hash), F_OK) == 0
    }

    public func list() -> AsyncThrowingStream<BlobInfo, any Error> {
        let walker = BlobDirectoryWalker(root: rootPath)
        return AsyncThrowingStream(unfolding: { try walker.next() })
    }

    public func delete(_ hash: BlobHash, ifNotModifiedSince cutoff: Date) async throws -> Bool {
        // Move the blob aside first, then look at its time: a writer that freshened it before the move is seen
        // (and the blob put back); one that comes after the move finds it absent and writes it again.
        let target = path(of: hash)
        let trash = directory(of: hash) + "/.gc" + Hex.randomName()
        guard rename(target, trash) == 0 else {
            if errno == ENOENT { return false }
            throw VigilError.io("move aside", target, errno: errno)
        }
        var info = stat()
        guard stat(trash, &info) == 0 else { throw VigilError.io("stat", trash, errno: errno) }
        if Self.modified(info) >= cutoff {
            guard rename(trash, target) == 0 else { throw VigilError.io("restore", target, errno: errno) }
            return false
        }
        unlink(trash)
        return true
    }

    public func flush() async throws {
        try await barrier.wait()
    }

    /// Makes every write to the filesystem holding `rootPath` durable (on Linux, the whole filesystem at once).
    private static func syncFileSystem(of rootPath: String) throws {
        let fd = open(rootPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw VigilError.io("open", rootPath, errno: errno) }
        defer { close(fd) }
        #if os(Linux)
            guard linuxSyncfs(fd) == 0 else { throw VigilError.io("sync", rootPath, errno: errno) }
        #else
            guard fsync(fd) == 0 else { throw VigilError.io("sync", rootPath, errno: errno) }
        #endif
    }

    /// Removes temporary files left by writers that died, once they are older than `cutoff`.
    public func removeAbandonedWrites(olderThan cutoff: Date) async throws -> Int {
        var removed = 0
        for folder in [tempPath] + fanOutFolders {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { continue }
            for name in names where folder == tempPath || name.hasPrefix(".") {
                var info = stat()
                let path = folder + "/" + name
                if stat(path, &info) == 0, Self.modified(info) < cutoff, unlink(path) == 0 { removed += 1 }
            }
        }
        return removed
    }

    // MARK: - Helpers

    /// Touches an existing blob so a concurrent gc keeps it; false if the blob is absent.
    private func freshen(_ target: String) -> Bool {
        utimes(target, nil) == 0
    }

    /// A dot-named file in the blob's fan-out folder: never a valid blob name, so listing skips it.
    private func temporaryPath(for hash: BlobHash) -> String {
        directory(of: hash) + "/.w" + Hex.randomName()
    }

    private func install(_ temp: String, as hash: BlobHash) throws {
        if let failure = moveIntoPlace(temp, as: hash) {
            unlink(temp)
            throw failure.error
        }
    }

    /// What a move into place could not do: the step, its path and its errno.
    private struct MoveFailure {
        var operation: String
        var path: String
        var code: Int32
        var error: VigilError { .io(operation, path, errno: code) }
    }

    /// Renames `source` to blob `hash`'s place, making its fan-out folder again if someone removed it; leaves
    /// `source` where it was when it fails.
    private func moveIntoPlace(_ source: String, as hash: BlobHash) -> MoveFailure? {
        let target = path(of: hash)
        if rename(source, target) == 0 { return nil }
        guard errno == ENOENT else { return MoveFailure(operation: "rename into", path: target, code: errno) }
        let folder = directory(of: hash)
        guard mkdir(folder, 0o700) == 0 || errno == EEXIST else {
            return MoveFailure(operation: "create folder", path: folder, code: errno)
        }
        guard rename(source, target) == 0 else {
            return MoveFailure(operation: "rename into", path: target, code: errno)
        }
        return nil
    }

    static func modified(_ info: stat) -> Date {
        #if os(Linux)
            let spec = info.st_mtim
        #else
            let spec = info.st_mtimespec
        #endif
        return Date(timeIntervalSince1970: Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9)
    }
}

#if os(Linux)
    /// glibc declares `syncfs` only under `_GNU_SOURCE`, which the Glibc module is not built with.
    @_silgen_name("syncfs")
    private func linuxSyncfs(_ fd: Int32) -> Int32
#endif

private func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
    var offset = 0
    while offset < bytes.count {
        let written = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
        if written < 0 {
            if errno == EINTR { continue }
            throw VigilError.io("write", path, errno: errno)
        }
        offset += written
    }
}

private func readAll(_ fd: Int32, sizeHint: Int, path: String) throws -> Data {
    var data = Data(count: sizeHint)
    var filled = 0
    try data.withUnsafeMutableBytes { buffer in
        while filled < sizeHint {
            let count = read(fd, buffer.baseAddress! + filled, sizeHint - filled)
            if count < 0 {
                if errno == EINTR { continue }
                throw VigilError.io("read", path, errno: errno)
            }
            if count == 0 { break }
            filled += count
        }
    }
    if filled < sizeHint { data.count = filled }
    return data
}
