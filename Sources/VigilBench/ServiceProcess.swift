import ArgumentParser
import Foundation

/// A `vigil` command run as a child process for a benchmark, its output in a log file: where it listens, its
/// resident memory and CPU time (from /proc), and a stop.
final class ServiceProcess: Sendable {
    let log: URL
    private let process: Process

    init(vigil: String, arguments: [String], log: URL) throws {
        self.log = log
        guard FileManager.default.createFile(atPath: log.path, contents: nil) else {
            throw ValidationError("cannot create \(log.path)")
        }
        let output = try FileHandle(forWritingTo: log)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: vigil)
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = output
        try process.run()
        self.process = process
    }

    var isRunning: Bool { process.isRunning }

    /// The base URL from the "listening on http://…/" line the command prints at start.
    func waitForListening(timeout: Duration = .seconds(120)) async throws -> String {
        let since = ContinuousClock.now
        while ContinuousClock.now - since < timeout {
            let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
            if let range = text.range(of: "listening on http://") {
                let rest = text[range.upperBound...]
                if let end = rest.firstIndex(of: "/") { return "http://" + rest[..<end] }
            }
            guard process.isRunning else {
                throw ValidationError("\(process.arguments?.first ?? "vigil") exited at start: \(text.suffix(2_000))")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw ValidationError("no \"listening on\" line within \(timeout); see \(log.path)")
    }

    /// VmRSS of /proc/<pid>/status, in MB.
    func residentMegabytes() throws -> Double {
        let status = try String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) })
        else { throw ValidationError("no VmRSS in /proc/\(process.processIdentifier)/status") }
        return kilobytes / 1000
    }

    /// User plus system CPU time so far, in milliseconds (/proc/<pid>/stat, fields 14 and 15, in clock ticks).
    func cpuMilliseconds() throws -> Double {
        let stat = try String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8)
        // The command name (field 2) may hold spaces; the fields after its closing parenthesis are plain.
        guard let close = stat.lastIndex(of: ")") else { throw ValidationError("cannot read \(stat)") }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else {
            throw ValidationError("cannot read the CPU times in /proc/\(process.processIdentifier)/stat")
        }
        return (user + system) * 1000 / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// SIGTERM, and the wait for it to end.
    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }
}
