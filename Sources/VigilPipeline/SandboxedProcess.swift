import CVigilSandbox
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// An external command started in its own session and process group, with resource limits, no way to gain
/// privileges, and (when the engine is root) an unprivileged user. Its whole group is killed when it ends,
/// when `kill()` is called, or when the waiting task is cancelled, so nothing it started outlives it.
///
/// The fork and the waits run on a thread of their own: `waitid` blocks, and a blocking call must not hold
/// one of the few threads Swift's async code shares.
final class SandboxedProcess: Sendable {
    struct Request: Sendable {
        /// The program's path (see `resolve(_:path:)`).
        var executable: String
        /// `argv`, the program's name first.
        var arguments: [String]
        var environment: [String: String]
        var workingDirectory: String
        var standardInput: Int32
        var standardOutput: Int32
        var standardError: Int32
        var user: SandboxUser?
        var memoryBytes: Int64 = 0
        var fileBytes: Int64 = 0
        var processes: Int64 = 0
        /// A folder to bind at `/pfs` for the command alone (`PFSMount`); nil for none.
        var pfsFolder: String?
    }

    enum Termination: Sendable, Equatable {
        case exited(Int32)
        case signalled(Int32)
    }

    private struct State {
        var pid: pid_t?
        var killed = false
    }

    /// Shared with the thread that waits for the command.
    private final class Shared: Sendable {
        let state = Mutex(State())
    }

    private let shared = Shared()
    private let events: AsyncStream<Event>

    private enum Event: Sendable {
        case started
        case failed(String)
        case ended(Termination)
    }

    /// Starts the command; throws `CommandFailure` (exit code 127) when it cannot start.
    init(_ request: Request) async throws {
        let (events, sink) = AsyncStream.makeStream(of: Event.self)
        self.events = events
        let shared = self.shared
        Thread.detachNewThread {
            var pid: pid_t = 0
            var stage: Int32 = 0
            let error = Self.spawn(request, pid: &pid, stage: &stage)
            guard error == 0 else {
                sink.yield(.failed(Self.describe(stage: stage, errno: error)))
                sink.finish()
                return
            }
            let killNow = shared.state.withLock { state -> Bool in
                state.pid = pid
                return state.killed
            }
            if killNow { Glibc.kill(-pid, SIGKILL) }
            sink.yield(.started)
            _ = vigil_sandbox_wait_exited(pid)
            // Its pid is not reaped yet, so the group id cannot have been reused: kill what it left running.
            Glibc.kill(-pid, SIGKILL)
            let status = vigil_sandbox_reap(pid)
            shared.state.withLock { $0.pid = nil }
            let termination: Termination =
                vigil_sandbox_signalled(status) != 0
                ? .signalled(vigil_sandbox_signal(status)) : .exited(vigil_sandbox_exit_code(status))
            sink.yield(.ended(termination))
            sink.finish()
        }
        var iterator = events.makeAsyncIterator()
        switch await iterator.next() {
        case .started: return
        case .failed(let reason):
            throw CommandFailure(
                exitCode: 127, message: "cannot start `\(request.arguments.joined(separator: " "))`: \(reason)")
        case .ended, nil:
            throw CommandFailure(exitCode: 127, message: "cannot start `\(request.arguments.joined(separator: " "))`")
        }
    }

    /// Kills the whole process group (a time-out, a limit crossed, a shutdown).
    func kill() {
        shared.state.withLock { state in
            state.killed = true
            if let pid = state.pid { Glibc.kill(-pid, SIGKILL) }
        }
    }

    /// How the command ended. Cancelling the waiting task kills it (and still waits for it to end).
    func wait() async -> Termination {
        await withTaskCancellationHandler {
            for await event in events {
                if case .ended(let termination) = event { return termination }
            }
            return .signalled(SIGKILL)
        } onCancel: {
            self.kill()
        }
    }

    // MARK: Starting

    private static func spawn(_ request: Request, pid: inout pid_t, stage: inout Int32) -> Int32 {
        let argv = request.arguments.map { strdup($0) } + [nil]
        let envp = request.environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv + envp { free(pointer) }
        }
        let pfs = request.pfsFolder.flatMap { strdup($0) }
        defer { if let pfs { free(pfs) } }
        return request.executable.withCString { path in
            request.workingDirectory.withCString { directory in
                argv.withUnsafeBufferPointer { arguments in
                    envp.withUnsafeBufferPointer { environment in
                        var spawn = vigil_sandbox_request()
                        spawn.path = path
                        spawn.argv = arguments.baseAddress
                        spawn.envp = environment.baseAddress
                        spawn.working_directory = directory
                        spawn.stdin_fd = request.standardInput
                        spawn.stdout_fd = request.standardOutput
                        spawn.stderr_fd = request.standardError
                        if let user = request.user {
                            spawn.switch_user = 1
                            spawn.uid = user.uid
                            spawn.gid = user.gid
                        }
                        spawn.memory_bytes = request.memoryBytes
                        spawn.file_bytes = request.fileBytes
                        spawn.processes = request.processes
                        spawn.pfs_folder = pfs.map { UnsafePointer($0) }
                        return vigil_sandbox_spawn(&spawn, &pid, &stage)
                    }
                }
            }
        }
    }

    private static func describe(stage: Int32, errno code: Int32) -> String {
        let what =
            switch stage {
            case 1: "fork"
            case 2: "setting up its standard input and output"
            case 3: "setting its resource limits"
            case 4: "switching to the sandbox user"
            case 5: "setting no_new_privs"
            case 6: "entering its working folder"
            case 8: "mounting its datum's folder at /pfs"
            default: "exec"
            }
        return "\(what) failed: \(String(cString: strerror(code)))"
    }

    /// The path of `program`: itself when it names a path, else the first executable of that name on `path`
    /// (the command's own PATH, as a shell would search it) that `user` (nil: this process) may run; an
    /// engine's PATH often starts in root's home, which the sandbox user cannot enter.
    static func resolve(_ program: String, path: String, as user: SandboxUser?) -> String? {
        func runnable(_ candidate: String) -> Bool {
            guard let user else { return access(candidate, X_OK) == 0 }
            return user.mayRun(candidate)
        }
        if program.contains("/") { return runnable(program) ? program : nil }
        for folder in path.split(separator: ":") where !folder.isEmpty {
            let candidate = "\(folder)/\(program)"
            var info = stat()
            if stat(candidate, &info) == 0, info.st_mode & S_IFMT == S_IFREG, runnable(candidate) {
                return candidate
            }
        }
        return nil
    }
}

/// The unprivileged account an engine running as root starts commands as.
struct SandboxUser: Sendable, Hashable {
    var name: String
    var uid: uid_t
    var gid: gid_t

    static let defaultName = "nobody"

    /// Whether this user may execute the file at `path`: search permission on every folder above it and
    /// execute permission on the file, by the mode bits that apply to it (owner, group or others).
    func mayRun(_ path: String) -> Bool {
        func allows(_ info: stat) -> Bool {
            if info.st_uid == uid { return info.st_mode & S_IXUSR != 0 }
            if info.st_gid == gid { return info.st_mode & S_IXGRP != 0 }
            return info.st_mode & S_IXOTH != 0
        }
        var current = URL(fileURLWithPath: path).standardizedFileURL
        var info = stat()
        guard stat(current.path, &info) == 0, allows(info) else { return false }
        while current.path != "/" {
            current = current.deletingLastPathComponent()
            guard stat(current.path, &info) == 0, allows(info) else { return false }
        }
        return true
    }

    /// Looks a user up by name or number; root is refused (the point is not to be root).
    static func lookUp(_ nameOrID: String) throws -> SandboxUser {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        if let id = uid_t(nameOrID) {
            getpwuid_r(id, &entry, &buffer, buffer.count, &result)
        } else {
            getpwnam_r(nameOrID, &entry, &buffer, buffer.count, &result)
        }
        guard let found = result?.pointee else {
            if let id = uid_t(nameOrID), id != 0 { return SandboxUser(name: nameOrID, uid: id, gid: id) }
            throw PipelineError(
                .stageFailed,
                "no user '\(nameOrID)' on this machine to run the command as; create it or name another in "
                    + "`transform.user`", value: nameOrID)
        }
        guard found.pw_uid != 0 else {
            throw PipelineError(
                .badSpec, "commands never run as root; name an unprivileged user in `transform.user`",
                field: "transform.user", value: nameOrID)
        }
        return SandboxUser(name: String(cString: found.pw_name), uid: found.pw_uid, gid: found.pw_gid)
    }
}
