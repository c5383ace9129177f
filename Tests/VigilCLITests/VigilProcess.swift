import Foundation
import ServerTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Every suite that runs `vigil` processes, one test at a time: each process is a user's command that wants the
/// machine's cores to itself, and on a 2-core machine several at once starve the other targets' tests (seen: an
/// end-to-end alert that never came). Their waits run on threads of their own (`blockingWork`), never on one of
/// the cooperative pool's threads.
@Suite(.serialized) struct ProcessTests {}

/// Runs the built `vigil` executable as a user would, with its own data folder.
struct VigilProcess {
    let home: URL
    /// Added to (or replacing) the test process's environment: S3 credentials, for one.
    var environment: [String: String] = [:]
    /// What `vigil` runs under, if anything (`ip netns exec HOST`: another host of a `NetworkLab`).
    var launcher: [String] = []
    /// False for commands that take no data folder (`vigil stage`).
    var passesHome = true

    /// The `vigil` binary built beside this test bundle (or `$VIGIL_BIN`).
    static var binary: URL {
        if let path = ProcessInfo.processInfo.environment["VIGIL_BIN"] { return URL(fileURLWithPath: path) }
        let bundleFolder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let beside = bundleFolder.appendingPathComponent("vigil")
        if FileManager.default.isExecutableFile(atPath: beside.path) { return beside }
        // `swift test` may run the bundle from inside an .xctest folder.
        return bundleFolder.deletingLastPathComponent().appendingPathComponent("vigil")
    }

    struct Result {
        var status: Int32
        var output: String
        var error: String
        /// What it printed, as bytes (`vigil cat` of an image).
        var outputData = Data()
    }

    private func configure(_ process: Process, _ arguments: [String]) {
        let command = launcher + [Self.binary.path] + arguments + (passesHome ? ["--home", home.path] : [])
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
    }

    /// Starts `vigil arguments…` without waiting.
    func start(_ arguments: [String], errorLog: URL? = nil) throws -> Process {
        let process = Process()
        configure(process, arguments)
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = FileHandle.nullDevice
        if let errorLog {
            _ = FileManager.default.createFile(atPath: errorLog.path, contents: nil)
            process.standardError = try FileHandle(forWritingTo: errorLog)
        } else {
            process.standardError = FileHandle.nullDevice
        }
        try process.run()
        return process
    }

    /// Runs `vigil arguments…` to the end and returns what it printed, waiting on a thread of its own.
    @discardableResult
    func run(_ arguments: [String]) async throws -> Result {
        try await blockingWork { try runBlocking(arguments) }
    }

    private func runBlocking(_ arguments: [String]) throws -> Result {
        let process = Process()
        configure(process, arguments)
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let output = Pipe()
        let error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        // Read before waiting, so a large output cannot fill the pipe and stall the child.
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = error.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, output: String(decoding: outputData, as: UTF8.self),
            error: String(decoding: errorData, as: UTF8.self), outputData: outputData)
    }

    /// Runs and decodes the JSON it prints.
    func json<T: Decodable>(_ type: T.Type, _ arguments: [String]) async throws -> T {
        let result = try await run(arguments + ["--json"])
        guard result.status == 0 else { throw CLIFailure(arguments: arguments, result: result) }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(T.self, from: Data(result.output.utf8))
    }
}

extension VigilProcess {
    /// `vigil` with a data folder under `root` on a new, empty database of `postgres` (blobs in the folder);
    /// also the database's name.
    static func onNewDatabase(of postgres: PostgresServer, root: URL) async throws -> (VigilProcess, String) {
        let database = try await postgres.makeDatabase()
        var environment = postgres.environment
        environment["VIGIL_DATABASE_URL"] = postgres.url(database: database)
        return (VigilProcess(home: root.appendingPathComponent("home"), environment: environment), database)
    }
}

struct CLIFailure: Error, CustomStringConvertible {
    var arguments: [String]
    var result: VigilProcess.Result
    var description: String { "vigil \(arguments.joined(separator: " ")) exited \(result.status): \(result.error)" }
}

/// A folder of `count` small distinct files named like camera frames.
func makeFrames(in folder: URL, count: Int, tag: String, size: Int = 1_024) throws {
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    for index in 0..<count {
        var bytes = Data("\(tag) frame \(index) ".utf8)
        bytes.append(Data(repeating: UInt8(index % 251), count: max(0, size - bytes.count)))
        try bytes.write(to: folder.appendingPathComponent("cam\(index % 5)-\(1_700_000_000 + index).jpg"))
    }
}

/// Waits for `condition`, checking every 20 ms, for at most `seconds` (a process's progress can only be
/// watched from outside).
func eventually(_ seconds: Double, _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}

/// Waits for `process` to exit on a thread of its own.
func waitForExit(of process: Process) async throws {
    try await blockingWork { process.waitUntilExit() }
}

func temporaryFolder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-cli-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
