import Foundation
import Logging
import Synchronization
import VigilStore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A real PostgreSQL server on 127.0.0.1 for the tests: Debian's `postgresql` (installed by `make test`),
/// a cluster made by `initdb` in a fresh temporary folder, on a free port, with password authentication over
/// TCP (so the tests go through `PGPASSWORD` as users do).
///
/// `initdb` and the server refuse to run as root, so under root they run as the `postgres` user. A small shell
/// wrapper watches the test process and stops the server when the tests end, however they end; `kill()` is a
/// crash (SIGKILL to the server and its backends), and `start()` brings it back on the same folder and port.
public final class PostgresServer: Sendable {
    public static let user = "postgres"
    public static let password = "vigil-test-password"

    /// The server's programs: `$VIGIL_PG_BIN`, else Debian's PostgreSQL 15.
    public static let binDirectory =
        ProcessInfo.processInfo.environment["VIGIL_PG_BIN"].flatMap { $0.isEmpty ? nil : $0 }
        ?? "/usr/lib/postgresql/15/bin"

    /// Whether the PostgreSQL tests run: with the programs, or on CI (`CI=true`), where missing ones must fail.
    public static let canRun =
        FileManager.default.isExecutableFile(atPath: binDirectory + "/initdb")
        || ProcessInfo.processInfo.environment["CI"] == "true"
    public static let skipReason =
        "PostgreSQL (Debian postgresql) is missing: run `make test`, or set VIGIL_PG_BIN to its bin folder"

    public let directory: URL
    public let port: Int
    /// The address it listens on: 127.0.0.1, or one of a `NetworkLab` host.
    public let host: String
    /// The namespace it runs in (a `NetworkLab` host's), nil for this machine's own network.
    private let namespace: String?
    private let durable: Bool
    private let pid = Mutex<Int32>(0)

    /// A server in a fresh temporary folder (removed when the tests end). `durable: false` turns off fsync: a
    /// crash of the server process (not of the machine) loses nothing without it, and the tests run faster.
    /// In `namespace` it listens on `host` there and takes password sign-ins from any host of that network.
    public init(durable: Bool = false, namespace: String? = nil, host: String = "127.0.0.1") throws {
        directory = URL(fileURLWithPath: "/tmp/vigil-pg-\(UUID().uuidString.prefix(8))")
        self.durable = durable
        self.namespace = namespace
        self.host = host
        port = try LocalPorts.free(1)[0]
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // The lab's clean-up kills the wrapper that would remove it: the lab removes it instead.
        if let namespace { try NetworkLab.removeWithNamespace(directory, namespace: namespace) }
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path)
        if Self.asRoot {
            try FileManager.default.setAttributes(
                [.ownerAccountName: Self.user, .groupOwnerAccountName: Self.user], ofItemAtPath: directory.path)
        }
    }

    /// One server for the whole test process, started on first use.
    public static func shared() async throws -> PostgresServer {
        try await sharedServer.value
    }

    private static let sharedServer = Task<PostgresServer, any Error> {
        let server = try PostgresServer()
        try await server.start()
        return server
    }

    /// Makes the cluster on first use, starts the server and waits until it answers a query.
    public func start() async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binDirectory + "/initdb") else {
            throw PostgresServerError(message: Self.skipReason)
        }
        let data = directory.appendingPathComponent("data").path
        if !FileManager.default.fileExists(atPath: data) {
            let passwordFile = directory.appendingPathComponent("password").path
            try await runAsServerUser(
                "printf '%s' \(Self.quote(Self.password)) > \(Self.quote(passwordFile)) && "
                    + "\(Self.quote(Self.binDirectory + "/initdb")) -D \(Self.quote(data)) -U \(Self.user) "
                    + "-E UTF8 --locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 "
                    + "--pwfile=\(Self.quote(passwordFile)) --no-sync >\(Self.quote(directory.path + "/initdb.log")) 2>&1"
                    + (namespace == nil
                        ? ""
                        : " && echo 'host all all 0.0.0.0/0 scram-sha-256' >> \(Self.quote(data + "/pg_hba.conf"))")
            )
        }
        let process = try launch(data: data)
        let deadline = Date().addingTimeInterval(60)
        while true {
            if (try? await psql("SELECT 1")) != nil {
                // The wrapper writes the pid file right after starting the server, so it is there by now.
                readPID()
                return
            }
            guard Date() < deadline, process.isRunning else {
                let log = directory.appendingPathComponent("server.log").path
                let tail = (try? String(contentsOfFile: log, encoding: .utf8))?.suffix(2000) ?? ""
                throw PostgresServerError(message: "PostgreSQL did not start on port \(port): \(tail)")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// SIGKILL to the server and every backend it runs: a crash, not a shutdown. Returns once they are gone.
    public func kill() {
        let postmaster = pid.withLock { $0 }
        precondition(postmaster > 0, "PostgresServer.kill() before the server's pid was known")
        let children = Self.children(of: postmaster)
        _ = Glibc.kill(postmaster, SIGKILL)
        for child in children { _ = Glibc.kill(child, SIGKILL) }
        for process in [postmaster] + children {
            for _ in 0..<200 where Glibc.kill(process, 0) == 0 && !Self.isZombie(process) { usleep(25_000) }
        }
    }

    /// A new, empty database with a unique name.
    public func makeDatabase() async throws -> String {
        let name = "vigil_\(UUID().uuidString.prefix(12).lowercased().replacingOccurrences(of: "-", with: ""))"
        try await psql("CREATE DATABASE \(name)")
        return name
    }

    /// The URL Vigil takes for `database` on this server.
    public func url(database: String) -> String {
        "postgres://\(Self.user)@\(host):\(port)/\(database)?sslmode=disable"
    }

    /// Where a client in the test process finds a fresh, empty database on this server.
    ///
    /// It waits up to a minute for a query, not the 10 s default: the test process's two cooperative threads are
    /// shared by every suite starting at once, and a transaction whose continuations wait that long for a thread
    /// is starved, not lost (seen on CI: 32 audit inserts that missed 10 s). Tests of the deadline itself set
    /// their own `timeout`.
    public func newDatabaseLocation() async throws -> PostgresLocation {
        var location = try PostgresLocation.parse(url(database: try await makeDatabase()))
        location.queryTimeout = .seconds(60)
        return location
    }

    /// Runs `body` with a client of a fresh, empty database on this server (the client runs while `body` does),
    /// after applying `schemas`.
    public func withDatabase<T: Sendable>(
        schemas: [PostgresSchema] = [], logger: Logger,
        _ body: @Sendable (PostgresDatabase) async throws -> T
    ) async throws -> T {
        let location = try await newDatabaseLocation()
        return try await Self.withClient(location, environment: environment, schemas: schemas, logger: logger, body)
    }

    /// Runs `body` with a client of `location` (running while `body` does), after applying `schemas`.
    public static func withClient<T: Sendable>(
        _ location: PostgresLocation, environment: [String: String], schemas: [PostgresSchema] = [],
        logger: Logger, _ body: @Sendable (PostgresDatabase) async throws -> T
    ) async throws -> T {
        let database = try PostgresDatabase(location: location, environment: environment, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await database.run() }
            defer { group.cancelAll() }
            for schema in schemas { try await schema.apply(to: database) }
            return try await body(database)
        }
    }

    /// The environment a process needs to sign in (the password is never in the URL).
    public var environment: [String: String] { ["PGPASSWORD": Self.password] }

    /// Runs one SQL statement with `psql` (as a person debugging would); returns its unaligned output.
    @discardableResult
    public func psql(_ sql: String, database: String = "postgres") async throws -> String {
        let command = inNamespace([
            Self.binDirectory + "/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", host, "-p", "\(port)",
            "-U", Self.user, "-d", database, "-c", sql,
        ])
        return try await Self.run(command[0], Array(command.dropFirst()), environment: environment)
    }

    // MARK: Processes

    private static let asRoot = geteuid() == 0

    /// The server under a wrapper that stops it once the test process is gone, and then removes the folder (also
    /// when a test killed the server before that).
    private func launch(data: String) throws -> Process {
        let pidFile = directory.appendingPathComponent("server.pid").path
        let log = directory.appendingPathComponent("server.log").path
        let settings =
            [
                "-p \(port)", "-c listen_addresses=\(host)",
                "-c unix_socket_directories=\(Self.quote(directory.path))",
                "-c max_connections=200", "-c shared_buffers=64MB",
                // Dynamic shared memory as files in the data folder, which goes with the folder: POSIX segments
                // in /dev/shm outlive a server killed with SIGKILL (the crash tests) and held the machine's memory.
                "-c dynamic_shared_memory_type=mmap",
            ] + (durable ? [] : ["-c fsync=off"])
        let script = """
            \(Self.quote(Self.binDirectory + "/postgres")) -D \(Self.quote(data)) \(settings.joined(separator: " ")) \
            >>\(Self.quote(log)) 2>&1 & w=$!; echo $w > \(Self.quote(pidFile))
            while [ -d /proc/\(getpid()) ] && kill -0 $w 2>/dev/null; do sleep 0.5; done
            kill -INT $w 2>/dev/null; wait $w 2>/dev/null
            while [ -d /proc/\(getpid()) ]; do sleep 0.5; done; rm -rf \(Self.quote(directory.path))
            """
        try? FileManager.default.removeItem(atPath: pidFile)
        let process = Process()
        let command = inNamespace(
            Self.asRoot ? ["/bin/su", Self.user, "-s", "/bin/sh", "-c", script] : ["/bin/sh", "-c", script])
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// `argv` run in the server's namespace, if it has one.
    private func inNamespace(_ argv: [String]) -> [String] {
        guard let namespace else { return argv }
        return [NetworkLab.ip, "netns", "exec", namespace] + argv
    }

    private func readPID() {
        let file = directory.appendingPathComponent("server.pid").path
        if let text = try? String(contentsOfFile: file, encoding: .utf8),
            let value = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
        {
            pid.withLock { $0 = value }
        }
    }

    private func runAsServerUser(_ command: String) async throws {
        if Self.asRoot {
            try await Self.run("/bin/su", [Self.user, "-s", "/bin/sh", "-c", command])
        } else {
            try await Self.run("/bin/sh", ["-c", command])
        }
    }

    /// Runs a program to its end without holding a thread of the cooperative pool; throws with its output when
    /// it fails.
    @discardableResult
    private static func run(
        _ program: String, _ arguments: [String], environment extra: [String: String] = [:]
    ) async throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        guard status == 0 else {
            throw PostgresServerError(message: "\(program) \(arguments.joined(separator: " ")) failed: \(text)")
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private static func children(of parent: Int32) -> [Int32] {
        let text = (try? String(contentsOfFile: "/proc/\(parent)/task/\(parent)/children", encoding: .utf8)) ?? ""
        return text.split(separator: " ").compactMap { Int32($0) }
    }

    private static func isZombie(_ process: Int32) -> Bool {
        let status = (try? String(contentsOfFile: "/proc/\(process)/stat", encoding: .utf8)) ?? ""
        guard let close = status.lastIndex(of: ")") else { return true }
        return status[status.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
    }

    private static func quote(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

public struct PostgresServerError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
