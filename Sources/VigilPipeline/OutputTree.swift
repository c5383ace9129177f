import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A file's device and inode: what tells a hard link to an input from a file of the command's own.
struct FileIdentity: Hashable, Sendable {
    var device: UInt64
    var inode: UInt64

    init(_ info: stat) {
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }
}

/// What an external command left under `/pfs/out`, read without following a single link.
struct OutputTree {
    enum Kind {
        /// A regular file and its link count.
        case regular(FileIdentity, links: Int)
        case symlink
        /// A device, pipe or socket (its kind in words).
        case other(String)
    }

    struct Entry {
        var path: String
        var kind: Kind
    }

    var files: [Entry] = []
    /// How often each regular file appears in the tree.
    var links: [FileIdentity: Int] = [:]
    var bytes: Int64 = 0

    static func scan(_ root: String) throws -> OutputTree {
        var tree = OutputTree()
        try tree.walk(root)
        tree.files.sort { $0.path < $1.path }
        return tree
    }

    /// Bytes of the regular files under `root` (the command's output so far).
    static func size(of root: String) throws -> Int64 { try scan(root).bytes }

    private mutating func walk(_ folder: String) throws {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder)
        } catch {
            throw PipelineError(.stageFailed, "cannot read the output folder '\(folder)': \(error)", value: folder)
        }
        for name in names {
            let path = folder + "/" + name
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                try walk(path)
            case S_IFREG:
                let identity = FileIdentity(info)
                files.append(Entry(path: path, kind: .regular(identity, links: Int(info.st_nlink))))
                links[identity, default: 0] += 1
                bytes += Int64(info.st_size)
            case S_IFLNK:
                files.append(Entry(path: path, kind: .symlink))
            case S_IFCHR, S_IFBLK:
                files.append(Entry(path: path, kind: .other("device")))
            case S_IFIFO:
                files.append(Entry(path: path, kind: .other("named pipe")))
            default:
                files.append(Entry(path: path, kind: .other("socket")))
            }
        }
    }

    /// The identity of the regular file at `path` (links followed), or nil.
    static func identity(_ path: String) -> FileIdentity? {
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
        return FileIdentity(info)
    }

    /// Opens the file at `path` only if it is still the regular file that was checked (no link swapped in
    /// since), and hands `body` a path that names that very open file.
    static func withCheckedFile<T>(
        _ path: String, expecting identity: FileIdentity, _ body: (URL) async throws -> T
    ) async throws -> T {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            throw PipelineError(
                .stageFailed, "cannot read the output '\(path)': \(String(cString: strerror(errno)))", value: path)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, FileIdentity(info) == identity else {
            throw PipelineError(.stageFailed, "the output '\(path)' changed while it was being stored", value: path)
        }
        return try await body(URL(fileURLWithPath: "/proc/self/fd/\(fd)"))
    }
}
