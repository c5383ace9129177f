import ArgumentParser
import Foundation
import Logging
import VigilBackends
import VigilPipeline
import VigilStages
import VigilStore

/// `vigil stage NAME`: one built-in stage over one datum in Pachyderm's layout, which is what a spec written by
/// `vigil pipeline export --format pachyderm` runs in a Pachyderm worker. The datum's inputs become repos of a
/// store that lives in memory for the command's life, the stage runs there through the same engine as
/// everywhere else (one datum: every input whole, crossed), and the output commit's files are written to
/// `/pfs/out`.
struct StageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stage",
        abstract: "Run one built-in stage over a datum in Pachyderm's layout: /pfs/<input> in, /pfs/out out.",
        discussion: """
            What pipelines exported with `vigil pipeline export --format pachyderm` run in Pachyderm's workers. \
            Each folder under --pfs except `out` is an input of that name, holding the datum's files at their \
            paths in the input repo; the stage reads them as one datum and its outputs are written under \
            <pfs>/out. A stage that fails exits non-zero, so Pachyderm retries or fails the datum.
            """)

    @Argument(help: "The built-in stage (validate, detect, threats, analytics, copy or noop).") var stage: String
    @Option(name: .customLong("option"), help: "A stage option as KEY=VALUE; repeat for more.")
    var options: [String] = []
    @Option(help: "The datum's folder.") var pfs = "/pfs"
    @Flag(name: .long, help: "Log what happens, to standard error.") var verbose = false

    func run() async throws {
        let root = URL(fileURLWithPath: pfs, isDirectory: true).standardizedFileURL
        let out = root.appendingPathComponent("out")
        let stageOptions = try parsedOptions()
        let inputs = try inputNames(in: root)
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-stage-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        var logger = Logger(label: "vigil-stage") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = verbose ? .debug : .warning

        let backends = try Backends.inMemory(home: scratch, logger: logger)
        var read = 0
        for name in inputs { read += try await commit(root.appendingPathComponent(name), as: name, to: backends.store) }
        let leaves = inputs.map { PipelineInput.pfs(PFSInput(repo: $0, glob: "/")) }
        let spec = PipelineSpec(
            name: Self.outputRepo, input: leaves.count == 1 ? leaves[0] : .cross(leaves),
            transform: Transform(stage: stage, options: stageOptions), datumTries: 1)
        let environment = try backends.engineEnvironment(stages: .vigil)
        try await PipelineManager(environment: environment).create(spec, source: "vigil stage \(stage)")
        for job in try await PipelineEngine(environment: environment).runUntilIdle() {
            if let failed = try await environment.jobs.datums(job: job.id, state: .failed, limit: 1).first {
                if !failed.log.isEmpty { FileHandle.standardError.write(Data(failed.log.utf8)) }
                throw PipelineError(
                    .stageFailed,
                    "stage \(stage) failed on the datum under \(root.path): "
                        + (failed.error ?? "no reason recorded"), value: stage)
            }
            if let error = job.error {
                throw PipelineError(.stageFailed, "stage \(stage): \(error)", value: stage)
            }
        }
        let written = try await writeOutputs(of: backends.store, to: out)
        Terminal.standardError("stage \(stage): \(read) input files → \(written) files in \(out.path)")
    }

    /// The pipeline the stage runs as: any name but an input's (`out` is never one).
    static let outputRepo = "out"

    private func parsedOptions() throws -> [String: String] {
        var parsed: [String: String] = [:]
        for option in options {
            guard let equals = option.firstIndex(of: "="), equals != option.startIndex else {
                throw ValidationError("--option '\(option)' is not KEY=VALUE (e.g. --option scoreThreshold=0.5)")
            }
            parsed[String(option[..<equals])] = String(option[option.index(after: equals)...])
        }
        return parsed
    }

    /// The folders under the datum's root but `out`, checked to be names an input can have.
    private func inputNames(in root: URL) throws -> [String] {
        guard Self.isFolder(root) else {
            throw VigilError(
                .badArgument,
                "no folder \(root.path): give the datum's folder with --pfs (Pachyderm mounts it at /pfs)",
                value: root.path)
        }
        let entries: [String]
        do {
            entries = try FileManager.default.contentsOfDirectory(atPath: root.path)
        } catch {
            throw VigilError(
                .badArgument, "cannot list the datum's folder \(root.path) (give it with --pfs): \(error)",
                value: root.path)
        }
        let names = entries.filter {
            $0 != "out" && !$0.hasPrefix(".") && Self.isFolder(root.appendingPathComponent($0))
        }
        guard !names.isEmpty else {
            throw VigilError(
                .badArgument, "no inputs under \(root.path): a datum has a folder per input there (/pfs/<input>)",
                value: root.path)
        }
        for name in names {
            do {
                try Names.validateRepo(name)
            } catch {
                throw VigilError(
                    .badName, "the input folder '\(name)' under \(root.path) cannot name a repo", value: name)
            }
        }
        return names.sorted()
    }

    /// Commits the files under `folder` (following links, as Pachyderm presents inputs as links) to a new repo.
    private func commit(_ folder: URL, as name: String, to store: VersionedStore) async throws -> Int {
        _ = try await store.createRepo(name)
        let writer = try await store.openCommit(repo: name)
        var count = 0
        for (path, file) in try Self.files(under: folder) {
            try await writer.put(path, contentsOf: file)
            count += 1
        }
        try await writer.finish(message: "the datum's \(name) input")
        return count
    }

    /// Every file under `folder` with its path from there, following links (at most 64 folders deep).
    static func files(under folder: URL, prefix: String = "", depth: Int = 0) throws -> [(String, URL)] {
        guard depth < 64 else {
            throw VigilError(
                .badPath, "folders nest deeper than 64 under \(folder.path) (a link loop?)", value: folder.path)
        }
        var files: [(String, URL)] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() {
            let url = folder.appendingPathComponent(name)
            if isFolder(url) {
                files += try Self.files(under: url, prefix: prefix + "/" + name, depth: depth + 1)
            } else {
                files.append((prefix + "/" + name, url))
            }
        }
        return files
    }

    private static func isFolder(_ url: URL) -> Bool {
        var folder: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &folder) && folder.boolValue
    }

    /// Writes the output repo's files under `out`, as Pachyderm collects them from there.
    private func writeOutputs(of store: VersionedStore, to out: URL) async throws -> Int {
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        guard let head = try await store.resolveCommit(Self.outputRepo, ref: nil) else { return 0 }
        var count = 0
        try await store.trees.walkFiles(under: head.tree.hash) { path, entry in
            let target = out.appendingPathComponent(String(path.dropFirst()))
            try FileManager.default.createDirectory(
                at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try await store.blobs.get(entry.hash).write(to: target)
            count += 1
        }
        return count
    }
}
