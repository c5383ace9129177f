import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One attempt's private folder for an external command: `pfs/<input>/…` (read-only copies, owned by the
/// engine), `pfs/out`, `home` and `tmp` (the command's, owned by the sandbox user when there is one), and the
/// engine's own `log` and `stdin` files, handed to the command as descriptors.
struct DatumFolder {
    let root: URL
    var pfs: URL { root.appendingPathComponent("pfs") }
    var out: URL { pfs.appendingPathComponent("out") }
    var home: URL { root.appendingPathComponent("home") }
    var temporary: URL { root.appendingPathComponent("tmp") }
    private var log: URL { root.appendingPathComponent("log") }

    init(in parent: URL, name: String, user: SandboxUser?) throws {
        root = parent.appendingPathComponent(name)
        for folder in [root, pfs] { try Self.makeFolder(folder) }
        for folder in [out, home, temporary] {
            try Self.makeFolder(folder, mode: 0o700)
            if let user, chown(folder.path, user.uid, user.gid) != 0 {
                throw PipelineError(
                    .io, "cannot hand '\(folder.path)' to user \(user.name): \(String(cString: strerror(errno)))",
                    value: folder.path)
            }
        }
    }

    /// The log the command's standard output and error go to (a descriptor the caller closes).
    func makeLog() throws -> Int32 {
        let fd = open(log.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Self.failure("create the datum's log file", log.path) }
        return fd
    }

    /// The command's standard input: the lines given, or nothing.
    func makeStandardInput(_ lines: [String]) throws -> Int32 {
        var path = "/dev/null"
        if !lines.isEmpty {
            path = root.appendingPathComponent("stdin").path
            _ = try Self.writeReadOnly(Data((lines.joined(separator: "\n") + "\n").utf8), to: path)
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Self.failure("open the command's standard input", path) }
        return fd
    }

    /// The last `LogTail.limit` bytes of the log.
    func logTail() throws -> Data {
        let handle = try FileHandle(forReadingFrom: log)
        defer { try? handle.close() }
        let size = try handle.seekToEnd()
        try handle.seek(toOffset: size > UInt64(LogTail.limit) ? size - UInt64(LogTail.limit) : 0)
        return try handle.readToEnd() ?? Data()
    }

    /// Removes the folder, whatever modes the command left on what it made.
    func remove() {
        Self.removeTree(root.path)
    }

    // MARK: Names and orphans

    /// A datum folder's name: `d<host>.<pid>.<attempt's own part>`. The host and the process that made it are in
    /// the name so that a later process can tell the folders of one killed mid-datum from those of one still
    /// running (`removeOrphans`).
    static func name(_ attempt: String, process: pid_t = getpid()) -> String { "\(hostPrefix)\(process).\(attempt)" }

    /// `d` and a hash of the host's name (FNV-1a, the same in every process), then a dot.
    static let hostPrefix: String = {
        var hash: UInt32 = 2_166_136_261
        for byte in EngineEnvironment.hostName.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        return "d" + String(hash, radix: 16) + "."
    }()

    /// Removes the datum folders under `parent` that processes of this host left behind when they were killed
    /// mid-datum (their `defer` never ran): copies of frames nothing reads again, which must not outlive the
    /// frames' erasure either. Folders of running processes, of other hosts and of other names stay. Returns
    /// how many it removed.
    @discardableResult
    static func removeOrphans(in parent: URL) -> Int {
        var removed = 0
        for name in (try? FileManager.default.contentsOfDirectory(atPath: parent.path)) ?? []
        where name.hasPrefix(hostPrefix) {
            let parts = name.dropFirst(hostPrefix.count).split(separator: ".", maxSplits: 1)
            guard parts.count == 2, let pid = pid_t(parts[0]), pid > 0 else { continue }
            // Gone only when the kernel says so: a process of another user answers EPERM, and is alive.
            guard kill(pid, 0) != 0, errno == ESRCH else { continue }
            removeTree(parent.path + "/" + name)
            removed += 1
        }
        return removed
    }

    private static func removeTree(_ path: String) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        if info.st_mode & S_IFMT == S_IFDIR {
            chmod(path, 0o700)
            for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] {
                removeTree(path + "/" + name)
            }
            rmdir(path)
        } else {
            unlink(path)
        }
    }

    // MARK: Files

    static func makeFolder(_ url: URL, mode: mode_t = 0o755) throws {
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder), isFolder.boolValue { return }
        try makeFolder(url.deletingLastPathComponent(), mode: 0o755)
        guard mkdir(url.path, mode) == 0 || errno == EEXIST else { throw failure("create", url.path) }
        // The umask must not take the others' search bit the sandbox user needs.
        chmod(url.path, mode)
    }

    /// Writes a new read-only file (never following a link planted at its path); returns its identity.
    static func writeReadOnly(_ data: Data, to path: String) throws -> FileIdentity {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o444)
        guard fd >= 0 else { throw failure("create the input file", path) }
        defer { close(fd) }
        do {
            try FileHandle(fileDescriptor: fd, closeOnDealloc: false).write(contentsOf: data)
        } catch {
            throw PipelineError(.io, "cannot write the input file '\(path)': \(error)", value: path)
        }
        fchmod(fd, 0o444)
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw failure("stat the input file", path) }
        return FileIdentity(info)
    }

    private static func failure(_ operation: String, _ path: String) -> PipelineError {
        PipelineError(.io, "cannot \(operation) '\(path)': \(String(cString: strerror(errno)))", value: path)
    }
}

/// Where datum folders go: the engine's scratch folder, or, when a sandbox user could not reach it (a data
/// folder only its owner may enter), a folder of this engine's user under the system's temporary folder.
enum SandboxScratch {
    /// The folder of this engine's user under the system's temporary folder.
    static var fallbackFolder: URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("vigil-sandbox-\(geteuid())")
    }

    static func folder(preferring scratch: URL, for user: SandboxUser?) throws -> URL {
        try DatumFolder.makeFolder(scratch)
        guard user != nil else { return scratch }
        // Opened to the sandbox user only where the data folder already lets others pass (Vigil makes its own
        // data folders private; then the datums go to the fallback below).
        if reachableByOthers(scratch.deletingLastPathComponent().path) {
            chmod(scratch.path, 0o711)
            return scratch
        }
        let fallback = fallbackFolder
        if mkdir(fallback.path, 0o711) != 0, errno != EEXIST {
            throw PipelineError(
                .io, "cannot create '\(fallback.path)': \(String(cString: strerror(errno)))", value: fallback.path)
        }
        var info = stat()
        // Somebody else's folder (or a link) planted at that name must not receive the datums.
        guard lstat(fallback.path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR, info.st_uid == geteuid() else {
            throw PipelineError(
                .io, "'\(fallback.path)' is not a folder of this user; remove it", value: fallback.path)
        }
        chmod(fallback.path, 0o711)
        return fallback
    }

    /// Whether every folder from `/` down to `path` lets others pass through.
    private static func reachableByOthers(_ path: String) -> Bool {
        var current = URL(fileURLWithPath: path).standardizedFileURL
        while true {
            var info = stat()
            guard stat(current.path, &info) == 0, info.st_mode & S_IXOTH != 0 else { return false }
            if current.path == "/" { return true }
            current = current.deletingLastPathComponent()
        }
    }
}
