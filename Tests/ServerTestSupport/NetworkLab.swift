import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Hosts for tests that need several machines: network namespaces the test makes (`ip netns`), host 0 holding a
/// bridge that every other host joins by a veth pair, all on one private /24 of its own. Nothing is routed
/// outside: the namespaces have no route but their own subnet, and loopback. `partition(host)` takes a host's
/// link down on the bridge's side, so its packets vanish as in a real partition (its own side stays up: no
/// quick "network unreachable" to tell it); `heal(host)` brings it back.
///
/// Needs root and iproute2. A small shell wrapper deletes the namespaces (and kills what runs in them) when
/// the test process ends, however it ends; `destroy()` does it at once.
public final class NetworkLab: Sendable {
    /// Whether namespaces can be made here: as root with `ip`, or on CI (where a missing piece must fail).
    public static let canRun =
        (geteuid() == 0 && FileManager.default.isExecutableFile(atPath: ip))
        || ProcessInfo.processInfo.environment["CI"] == "true"
    public static let skipReason = "network namespaces need root and iproute2 (`ip`): run the tests as root"

    static let ip = "/usr/sbin/ip"

    /// Names every namespace and link of this lab starts with (short: a link name has at most 15 bytes).
    public let prefix: String
    /// The first three octets of the lab's subnet.
    public let subnet: String
    public let hosts: Int

    /// Makes `hosts` namespaces (host 0 is the hub).
    public init(hosts: Int) throws {
        precondition(hosts >= 2 && hosts <= 16)
        let tag = String(UInt32.random(in: 0..<(1 << 20)), radix: 16)
        prefix = "vl" + tag
        subnet = "10.\(Int.random(in: 200...250)).\(Int.random(in: 1...254))"
        self.hosts = hosts
        try watch()
        let hub = namespace(0)
        var commands: [[String]] = [
            ["netns", "add", hub], ["-n", hub, "link", "set", "lo", "up"],
            ["-n", hub, "link", "add", "br0", "type", "bridge"],
            ["-n", hub, "addr", "add", "\(address(0))/24", "dev", "br0"], ["-n", hub, "link", "set", "br0", "up"],
        ]
        for host in 1..<hosts {
            let name = namespace(host)
            commands += [
                ["netns", "add", name], ["-n", name, "link", "set", "lo", "up"],
                ["-n", hub, "link", "add", link(host), "type", "veth", "peer", "name", "eth0", "netns", name],
                ["-n", name, "addr", "add", "\(address(host))/24", "dev", "eth0"],
                ["-n", name, "link", "set", "eth0", "up"],
                ["-n", hub, "link", "set", link(host), "master", "br0"], ["-n", hub, "link", "set", link(host), "up"],
            ]
        }
        for command in commands { try Self.run(command) }
    }

    public func namespace(_ host: Int) -> String { "\(prefix)-\(host)" }
    public func address(_ host: Int) -> String { "\(subnet).\(host + 1)" }
    private func link(_ host: Int) -> String { "\(prefix)h\(host)" }

    /// `argv` run inside host `host`'s namespace.
    public func command(on host: Int, _ argv: [String]) -> [String] {
        [Self.ip, "netns", "exec", namespace(host)] + argv
    }

    /// Cuts host `host` off: its packets are dropped at the bridge from now on.
    public func partition(_ host: Int) throws {
        try Self.run(["-n", namespace(0), "link", "set", link(host), "down"])
    }

    /// Joins host `host` to the others again.
    public func heal(_ host: Int) throws {
        try Self.run(["-n", namespace(0), "link", "set", link(host), "up"])
    }

    /// Kills every process in the lab's namespaces and deletes them.
    public func destroy() {
        _ = try? Self.shell(cleanup)
    }

    /// Kills what runs in each namespace (the servers' own wrappers too, so they cannot clean up after them),
    /// deletes the namespace, then removes the folders its servers listed (`removeWithNamespace`).
    private var cleanup: String {
        (0..<hosts).map { host in
            let name = namespace(host)
            let folders = Self.quote(Self.folderList(name))
            return "for p in $(\(Self.ip) netns pids \(name) 2>/dev/null); do kill -9 $p 2>/dev/null; done; "
                + "\(Self.ip) netns del \(name) 2>/dev/null; "
                + "if [ -f \(folders) ]; then xargs -d '\\n' rm -rf < \(folders); rm -f \(folders); fi"
        }.joined(separator: "; ")
    }

    /// Removes `directory` (a server's temporary folder) when namespace `namespace` goes, after what ran there.
    public static func removeWithNamespace(_ directory: URL, namespace: String) throws {
        let list = folderList(namespace)
        if !FileManager.default.fileExists(atPath: list) {
            _ = FileManager.default.createFile(atPath: list, contents: nil)
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: list))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data((directory.path + "\n").utf8))
    }

    private static func folderList(_ namespace: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("vigil-netns-\(namespace).folders").path
    }

    /// Starts the wrapper that cleans up once this test process is gone.
    private func watch() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "while kill -0 \(getpid()) 2>/dev/null; do sleep 1; done; \(cleanup)"]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    private static func run(_ arguments: [String]) throws {
        try shell(([ip] + arguments).map(quote).joined(separator: " "))
    }

    @discardableResult
    private static func shell(_ script: String) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw NetworkLabError(message: "`\(script)` failed: \(text)")
        }
        return text
    }

    static func quote(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

public struct NetworkLabError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
