import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Lists a `FileSystemBlobStore` one fan-out folder at a time, so listing a million blobs holds only one
/// folder's names (about 1/256 of them) in memory.
final class BlobDirectoryWalker: @unchecked Sendable {
    // @unchecked: `next()` is called by one consumer at a time (AsyncThrowingStream's unfolding contract),
    // and the lock makes that explicit for anyone who calls it otherwise.
    private let lock = NSLock()
    private let root: String
    private var folderIndex = 0
    private var pending: [BlobInfo] = []

    init(root: String) {
        self.root = root
    }

    func next() throws -> BlobInfo? {
        lock.lock()
        defer { lock.unlock() }
        while pending.isEmpty {
            guard folderIndex < 256 else { return nil }
            let prefix = String(folderIndex, radix: 16).leftPadded(to: 2)
            folderIndex += 1
            pending = try readFolder(prefix)
        }
        return pending.removeLast()
    }

    private func readFolder(_ prefix: String) throws -> [BlobInfo] {
        let folder = root + "/" + prefix
        guard let dir = opendir(folder) else {
            if errno == ENOENT { return [] }
            throw VigilError.io("list", folder, errno: errno)
        }
        defer { closedir(dir) }
        var found: [BlobInfo] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard name.utf8.count == 62, let hash = BlobHash(hex: prefix + name) else { continue }
            var info = stat()
            guard stat(folder + "/" + name, &info) == 0 else { continue }
            found.append(
                BlobInfo(hash: hash, size: Int64(info.st_size), modified: FileSystemBlobStore.modified(info)))
        }
        return found
    }
}

extension String {
    func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
