import Foundation
import VigilStore

#if canImport(Glibc)
    import Glibc
#endif

/// Runs a spec's `cmd` on each datum in Pachyderm's layout, so a stage written for Pachyderm runs here
/// unchanged: the datum's input files under `<tmp>/pfs/<input>/<path>`, outputs written to `<tmp>/pfs/out`.
/// `/pfs` in the command's arguments and standard input is mapped to `<tmp>/pfs`, and the environment has
/// `PACH_JOB_ID`, `PACH_DATUM_ID`, `PFS` (the folder) and, per input, `<input>=<path of its datum>`.
///
/// Input files are hard links to the store's read-only blob files when the blobs are local (no bytes copied),
/// else read-only copies of just the datum's files.
struct ExternalCommandStage: Stage {
    let transform: Transform
    let store: VersionedStore
    /// Where datum folders are made: on the blobs' filesystem, so hard links work.
    let scratch: URL

    func process(_ datum: DatumContext) async throws {
        let root = scratch.appendingPathComponent(
            "\(datum.job.prefix(12))-\(datum.datum.id.prefix(16))-\(datum.attempt)-\(UUID().uuidString.prefix(8))")
        let pfs = root.appendingPathComponent("pfs")
        let out = pfs.appendingPathComponent("out")
        defer { try? FileManager.default.removeItem(at: root) }
        try Self.makeFolder(out)

        var environment = ProcessInfo.processInfo.environment
        for (key, value) in transform.env { environment[key] = value }
        environment["PACH_JOB_ID"] = datum.job
        environment["PACH_DATUM_ID"] = datum.datum.id
        environment["PFS"] = pfs.path
        for input in datum.datum.inputs {
            let local = try await materialize(input, under: pfs.appendingPathComponent(input.name), datum: datum)
            environment[input.name] = local.path
        }

        let log = root.appendingPathComponent("log")
        let status = try await run(environment: environment, root: root, pfs: pfs.path, log: log)
        if let tail = try? Self.tail(of: log) { datum.appendLog(tail) }
        switch status {
        case .exited(0):
            break
        case .exited(let code):
            throw CommandFailure(
                exitCode: code, message: "`\(transform.cmd.joined(separator: " "))` exited with status \(code)")
        case .signalled(let signal):
            throw CommandFailure(
                exitCode: 128 + signal,
                message: "`\(transform.cmd.joined(separator: " "))` was killed by signal \(signal)")
        }
        try await collectOutputs(in: out, datum: datum)
    }

    // MARK: Inputs

    /// Puts the input's file, or every file under its folder, at its repo path under `folder`.
    private func materialize(_ input: DatumInput, under folder: URL, datum: DatumContext) async throws -> URL {
        let local = input.path == "/" ? folder : folder.appendingPathComponent(String(input.path.dropFirst()))
        try Self.makeFolder(folder)
        for file in try await datum.files(of: input) {
            let target = folder.appendingPathComponent(String(file.path.dropFirst()))
            try Self.makeFolder(target.deletingLastPathComponent())
            if let source = store.blobs.localPath(of: file.entry.hash), link(source, target.path) == 0 { continue }
            // No local blob file, or another filesystem: a read-only copy.
            let data = try await datum.read(file.entry)
            guard
                FileManager.default.createFile(
                    atPath: target.path, contents: data, attributes: [.posixPermissions: 0o444])
            else { throw PipelineError(.io, "cannot write the input file '\(target.path)'", value: target.path) }
        }
        return local
    }

    // MARK: Running

    private enum Status: Equatable {
        case exited(Int32)
        case signalled(Int32)
    }

    private func run(environment: [String: String], root: URL, pfs: String, log: URL) async throws -> Status {
        let process = Process()
        // `env` finds the program on PATH, as a shell would.
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = transform.cmd.map { Self.mapPFS($0, to: pfs) }
        process.environment = environment
        process.currentDirectoryURL = root
        guard FileManager.default.createFile(atPath: log.path, contents: nil) else {
            throw PipelineError(.io, "cannot create the datum's log file '\(log.path)'", value: log.path)
        }
        let logHandle = try FileHandle(forWritingTo: log)
        defer { try? logHandle.close() }
        process.standardOutput = logHandle
        process.standardError = logHandle
        if transform.stdin.isEmpty {
            process.standardInput = FileHandle.nullDevice
        } else {
            let stdin = root.appendingPathComponent("stdin")
            let text = transform.stdin.map { Self.mapPFS($0, to: pfs) }.joined(separator: "\n") + "\n"
            try Data(text.utf8).write(to: stdin)
            process.standardInput = try FileHandle(forReadingFrom: stdin)
        }
        let (exits, exited) = AsyncStream.makeStream(of: Status.self, bufferingPolicy: .bufferingNewest(1))
        process.terminationHandler = { process in
            let status = process.terminationStatus
            exited.yield(process.terminationReason == .uncaughtSignal ? .signalled(status) : .exited(status))
            exited.finish()
        }
        do {
            try process.run()
        } catch {
            throw CommandFailure(
                exitCode: 127,
                message: "cannot start `\(transform.cmd.joined(separator: " "))`: \(error.localizedDescription)")
        }
        let pid = process.processIdentifier
        let status = await withTaskCancellationHandler {
            var iterator = exits.makeAsyncIterator()
            return await iterator.next()
        } onCancel: {
            // A time-out or a shutdown: the command must not outlive its datum.
            kill(pid, SIGKILL)
        }
        guard let status else {
            kill(pid, SIGKILL)
            throw CancellationError()
        }
        return status
    }

    // MARK: Outputs

    private func collectOutputs(in out: URL, datum: DatumContext) async throws {
        guard
            let walker = FileManager.default.enumerator(
                at: out, includingPropertiesForKeys: [.isRegularFileKey, .isSymbolicLinkKey])
        else { return }
        while let file = walker.nextObject() as? URL {
            // A symlink to an input (a zero-copy pass-through in Pachyderm) stores the file it points at.
            let resolved = file.resolvingSymlinksInPath()
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: resolved.path, isDirectory: &isDirectory),
                !isDirectory.boolValue
            else { continue }
            let relative = String(file.path.dropFirst(out.path.count))
            guard !relative.isEmpty else { continue }
            try await datum.write(relative, contentsOf: resolved)
        }
    }

    // MARK: Helpers

    /// Replaces `/pfs` where it starts a path (`/pfs`, `/pfs/...`, `'/pfs/...'`, `--in=/pfs/x`) with `pfs`.
    static func mapPFS(_ text: String, to pfs: String) -> String {
        let pathCharacters = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-/")
        var out = ""
        var index = text.startIndex
        while let found = text[index...].range(of: "/pfs") {
            let before = found.lowerBound == text.startIndex ? nil : text[text.index(before: found.lowerBound)]
            let after = found.upperBound == text.endIndex ? nil : text[found.upperBound]
            let startsPath = before.map { !pathCharacters.contains($0) } ?? true
            let endsWord = after.map { $0 == "/" || !pathCharacters.contains($0) } ?? true
            out += text[index..<found.lowerBound]
            out += startsPath && endsWord ? pfs : "/pfs"
            index = found.upperBound
        }
        return out + text[index...]
    }

    private static func makeFolder(_ url: URL) throws {
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            throw PipelineError(.io, "cannot create '\(url.path)': \(error.localizedDescription)", value: url.path)
        }
    }

    private static func tail(of file: URL) throws -> Data {
        let handle = try FileHandle(forReadingFrom: file)
        defer { try? handle.close() }
        let size = try handle.seekToEnd()
        try handle.seek(toOffset: size > UInt64(LogTail.limit) ? size - UInt64(LogTail.limit) : 0)
        return try handle.readToEnd() ?? Data()
    }
}

/// An external command that failed: its exit code (128 + N for signal N, 127 when it could not start).
struct CommandFailure: Error, CustomStringConvertible {
    var exitCode: Int32
    var message: String
    var description: String { message }
}
