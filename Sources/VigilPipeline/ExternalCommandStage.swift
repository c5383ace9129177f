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
/// User code is not trusted with the store (see `docs/PIPELINES.md`, "Sandbox"):
/// - inputs are private read-only copies of verified bytes, never links to stored blobs;
/// - the environment is an allow-list, the spec's `env` and the variables it names in `secrets`;
/// - it runs in its own process group, killed whole when it ends or times out, with limits on memory, file
///   size and (as a user of its own) processes; an engine running as root starts it as `transform.user`
///   (default `nobody`);
/// - `/pfs/out` may hold only folders, regular files and links to the datum's own inputs, at most
///   `resourceLimits.disk` bytes in all; anything else fails the datum with the reason.
struct ExternalCommandStage: Stage {
    let transform: Transform
    let limits: ResourceLimits
    /// Who the command runs as: nil for the engine's own user (when it is not root).
    let user: SandboxUser?
    /// Where datum folders are made (one the user can reach).
    let scratch: URL
    /// The engine's environment, which the command sees only a part of.
    let engineEnvironment: [String: String]
    /// Whether the datum's folder is mounted at `/pfs` for the command (`PFSMount`), rather than `/pfs` in its
    /// arguments being rewritten to the folder.
    let mountsPFS: Bool

    /// Looks the user up and settles the scratch folder once per worker, not per datum.
    init(spec: PipelineSpec, environment: EngineEnvironment) throws {
        transform = spec.transform
        limits = spec.resourceLimits ?? ResourceLimits()
        user = geteuid() == 0 ? try SandboxUser.lookUp(transform.user ?? SandboxUser.defaultName) : nil
        scratch = try SandboxScratch.folder(preferring: environment.scratch, for: user)
        let orphans = DatumFolder.removeOrphans(in: scratch)
        if orphans > 0 {
            environment.logger.info(
                "removed datum folders left by processes killed mid-datum",
                metadata: ["count": "\(orphans)", "folder": "\(scratch.path)"])
        }
        engineEnvironment = environment.processEnvironment
        mountsPFS = PFSMount.available
    }

    /// Variables of the engine's environment every command sees (locale, time zone, where programs are).
    static let allowedVariables: Set<String> = ["PATH", "LANG", "LANGUAGE", "TZ"]
    static let defaultPath = "/usr/local/bin:/usr/bin:/bin"
    /// How often the size of `/pfs/out` is checked while the command runs.
    static let outputCheckInterval: Duration = .milliseconds(500)

    private var diskLimit: Int64 { limits.disk ?? ResourceLimits.defaultDisk }

    func process(_ datum: DatumContext) async throws {
        let folder = try DatumFolder(
            in: scratch,
            name: DatumFolder.name(
                "\(datum.job.prefix(12))-\(datum.datum.id.prefix(16))-\(datum.attempt)-\(UUID().uuidString.prefix(8))"),
            user: user)
        defer { folder.remove() }

        // Where the command sees its datum: /pfs itself when mounted there, else the folder.
        let pfs = mountsPFS ? PFSMount.target : folder.pfs.path
        var environment = try environment(for: datum, folder: folder, pfs: pfs)
        var inputs = InputCopies()
        for input in datum.datum.inputs {
            let local = try await materialize(
                input, under: folder.pfs.appendingPathComponent(input.name), datum: datum, copies: &inputs)
            environment[input.name] = pfs + local.path.dropFirst(folder.pfs.path.count)
        }

        let log = try folder.makeLog()
        defer { close(log) }
        let stdin = try folder.makeStandardInput(transform.stdin.map { Self.mapPFS($0, to: pfs) })
        defer { close(stdin) }
        let arguments = transform.cmd.map { Self.mapPFS($0, to: pfs) }
        guard
            let executable = SandboxedProcess.resolve(
                arguments[0], path: environment["PATH"] ?? Self.defaultPath, as: user)
        else {
            throw CommandFailure(
                exitCode: 127,
                message: "cannot start `\(transform.cmd.joined(separator: " "))`: no program '\(arguments[0])' "
                    + (user.map { "that user \($0.name) may run " } ?? "") + "on the command's PATH "
                    + "(\(environment["PATH"] ?? Self.defaultPath))")
        }
        let process = try await SandboxedProcess(
            SandboxedProcess.Request(
                executable: executable, arguments: arguments, environment: environment,
                workingDirectory: folder.root.path, standardInput: stdin, standardOutput: log, standardError: log,
                user: user, memoryBytes: limits.memory ?? ResourceLimits.defaultMemory, fileBytes: diskLimit,
                processes: user == nil ? 0 : 4096, pfsFolder: mountsPFS ? folder.pfs.path : nil))
        let (termination, overLimit) = await watch(process, out: folder.out)
        if let tail = try? folder.logTail() { datum.appendLog(tail) }
        let command = "`\(transform.cmd.joined(separator: " "))`"
        if overLimit { throw outputTooLarge(command) }
        switch termination {
        case .exited(0):
            break
        case .exited(let code) where transform.acceptReturnCode?.contains(Int(code)) == true:
            datum.log("\(command) exited with status \(code), accepted as success (transform.acceptReturnCode)")
        case .exited(let code) where code == 128 + SIGXFSZ:
            // A shell reports a program it ran that was killed by SIGXFSZ this way.
            throw CommandFailure(
                exitCode: code,
                message: "\(command) exited with status \(code) (a file over the limit: " + limitText + ")")
        case .exited(let code):
            throw CommandFailure(exitCode: code, message: "\(command) exited with status \(code)")
        case .signalled(SIGXFSZ):
            throw CommandFailure(
                exitCode: 128 + SIGXFSZ, message: "\(command) wrote a file over the limit: " + limitText)
        case .signalled(let signal):
            throw CommandFailure(exitCode: 128 + signal, message: "\(command) was killed by signal \(signal)")
        }
        try await collectOutputs(in: folder.out, datum: datum, inputs: inputs)
    }

    private var limitText: String {
        "\(diskLimit) bytes under /pfs/out (raise `resourceLimits.disk` in the spec)"
    }

    private func outputTooLarge(_ command: String) -> CommandFailure {
        CommandFailure(exitCode: 128 + SIGKILL, message: "\(command) wrote more than " + limitText)
    }

    /// Waits for the command, killing it should `/pfs/out` grow past the disk limit.
    private func watch(_ process: SandboxedProcess, out: URL) async -> (SandboxedProcess.Termination, Bool) {
        let limit = diskLimit
        return await withTaskGroup(of: (SandboxedProcess.Termination, Bool)?.self) { group in
            group.addTask { (await process.wait(), false) }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: Self.outputCheckInterval)
                    if (try? OutputTree.size(of: out.path)) ?? 0 > limit {
                        process.kill()
                        return (await process.wait(), true)
                    }
                }
                return nil
            }
            var result: (SandboxedProcess.Termination, Bool) = (.signalled(SIGKILL), false)
            while let next = await group.next() {
                guard let next else { continue }
                result = (next.0, result.1 || next.1)
                group.cancelAll()
            }
            return result
        }
    }

    // MARK: Environment

    private func environment(
        for datum: DatumContext, folder: DatumFolder, pfs: String
    ) throws -> [String: String] {
        let engine = engineEnvironment
        var environment = engine.filter { Self.allowedVariables.contains($0.key) || $0.key.hasPrefix("LC_") }
        if environment["PATH"] == nil { environment["PATH"] = Self.defaultPath }
        environment["HOME"] = folder.home.path
        environment["TMPDIR"] = folder.temporary.path
        if let user {
            environment["USER"] = user.name
            environment["LOGNAME"] = user.name
        }
        for (key, value) in transform.env { environment[key] = value }
        for secret in transform.secrets ?? [] {
            guard let value = engine[secret.source] else {
                throw PipelineError(
                    .stageFailed,
                    "the spec passes the engine's variable \(secret.source) to the command (transform.secrets), but "
                        + "the engine's environment has no \(secret.source); set it where the engine starts",
                    value: secret.source)
            }
            environment[secret.envVar] = value
        }
        environment["PACH_JOB_ID"] = datum.job
        environment["PACH_DATUM_ID"] = datum.datum.id
        environment["PFS"] = pfs
        return environment
    }

    // MARK: Inputs

    /// Puts a private, read-only copy of the input's file, or of every file under its folder, at its repo path
    /// under `folder`. The bytes come through the store, which checks them against their hash.
    private func materialize(
        _ input: DatumInput, under folder: URL, datum: DatumContext, copies: inout InputCopies
    ) async throws -> URL {
        let local = input.path == "/" ? folder : folder.appendingPathComponent(String(input.path.dropFirst()))
        try DatumFolder.makeFolder(folder)
        for file in try await datum.files(of: input) {
            let target = folder.appendingPathComponent(String(file.path.dropFirst()))
            try DatumFolder.makeFolder(target.deletingLastPathComponent())
            let data = try await datum.read(file.entry)
            copies.insert(try DatumFolder.writeReadOnly(data, to: target.path))
        }
        return local
    }

    // MARK: Outputs

    /// Stores what the command left under `/pfs/out`, after checking every entry: folders, regular files
    /// (hard-linked only among themselves or to the datum's inputs) and links to the datum's own input files.
    private func collectOutputs(in out: URL, datum: DatumContext, inputs: InputCopies) async throws {
        let tree = try OutputTree.scan(out.path)
        guard tree.bytes <= diskLimit else { throw outputTooLarge("`\(transform.cmd.joined(separator: " "))`") }
        let inputRoot = out.deletingLastPathComponent().resolvingSymlinksInPath().path + "/"
        for file in tree.files {
            let relative = String(file.path.dropFirst(out.path.count))
            switch file.kind {
            case .regular(let identity, let links):
                let linksHere = tree.links[identity, default: 0] + (inputs.contains(identity) ? 1 : 0)
                guard links <= linksHere else {
                    throw refused(relative, "is a hard link to a file outside /pfs")
                }
                try await OutputTree.withCheckedFile(file.path, expecting: identity) {
                    try await datum.write(relative, contentsOf: $0)
                }
            case .symlink:
                // A link to an input is Pachyderm's zero-copy pass-through; anything else could reach any file
                // the engine can read.
                guard let target = realpath(hostPath(ofLink: file.path, pfs: out.deletingLastPathComponent()), nil)
                else {
                    throw refused(relative, "is a symbolic link to nothing")
                }
                let resolved = String(cString: target)
                free(target)
                guard resolved.hasPrefix(inputRoot), !resolved.hasPrefix(out.path + "/"),
                    let identity = OutputTree.identity(resolved), inputs.contains(identity)
                else { throw refused(relative, "is a symbolic link to '\(resolved)', which is not an input file") }
                try await OutputTree.withCheckedFile(resolved, expecting: identity) {
                    try await datum.write(relative, contentsOf: $0)
                }
            case .other(let kind):
                throw refused(relative, "is a \(kind); only files and folders are outputs")
            }
        }
    }

    /// A link a command made under a mounted `/pfs` names `/pfs/…`, which on this side is the datum's folder.
    private func hostPath(ofLink path: String, pfs: URL) -> String {
        guard mountsPFS, let target = try? FileManager.default.destinationOfSymbolicLink(atPath: path),
            target.hasPrefix(PFSMount.target + "/")
        else { return path }
        return pfs.path + target.dropFirst(PFSMount.target.count)
    }

    private func refused(_ path: String, _ reason: String) -> PipelineError {
        PipelineError(.stageFailed, "the command's output /pfs/out\(path) \(reason)", value: path)
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
}

/// The (device, inode) pairs of a datum's input copies.
struct InputCopies {
    private var identities: Set<FileIdentity> = []

    mutating func insert(_ identity: FileIdentity) { identities.insert(identity) }
    func contains(_ identity: FileIdentity) -> Bool { identities.contains(identity) }
}

/// An external command that failed: its exit code (128 + N for signal N, 127 when it could not start).
struct CommandFailure: Error, CustomStringConvertible {
    var exitCode: Int32
    var message: String
    var description: String { message }
}
