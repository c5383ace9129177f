import ArgumentParser
import Foundation
import VigilBackends
import VigilPipeline
import VigilStore

struct PipelineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline",
        abstract: "Create, change, inspect, delete and run pipelines.",
        discussion: "A pipeline reads input repos and writes the repo of its own name; see docs/PIPELINES.md.",
        subcommands: [Create.self, Update.self, List.self, Inspect.self, Delete.self, Run.self, Export.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a pipeline (and its output repo) from a YAML or JSON spec file.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "The spec file.") var file: String

        func run() async throws {
            try await store.withBackends { backends in
                let (spec, source) = try PipelineSpecFile.read(file)
                let manager = PipelineManager(environment: try await store.openEngine(backends))
                let record = try await manager.create(spec, source: source)
                print("created pipeline \(record.name) (output repo \(record.name)); `vigil engine` runs it")
            }
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace a pipeline's spec.",
            discussion: """
                A change to what the pipeline computes (inputs, globs, transform) recomputes its output; a \
                change of parallelism, tries or time-out does not.
                """)
        @OptionGroup var store: StoreOptions
        @Argument(help: "The spec file.") var file: String
        @Flag(name: .long, help: "Also list every datum again at the next job, retrying failed ones.")
        var reprocess = false

        func run() async throws {
            try await store.withBackends { backends in
                let (spec, source) = try PipelineSpecFile.read(file)
                let manager = PipelineManager(environment: try await store.openEngine(backends))
                let record = try await manager.update(spec, source: source, reprocess: reprocess)
                print("updated pipeline \(record.name) to version \(record.version)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List pipelines with their last job.")
        @OptionGroup var store: StoreOptions
        @OptionGroup var output: OutputOptions

        struct Row: Encodable {
            var pipeline: PipelineRecord
            var lastJob: JobInfo?
        }

        func run() async throws {
            try await store.withBackends { backends in
                let environment = try await store.openEngine(backends)
                var rows: [Row] = []
                for record in try await environment.jobs.pipelines() {
                    rows.append(
                        Row(
                            pipeline: record,
                            lastJob: try await environment.jobs.jobs(pipeline: record.name, limit: 1).first))
                }
                if output.json { return try Terminal.json(rows) }
                Terminal.table(
                    ["NAME", "INPUT", "TRANSFORM", "WORKERS", "VERSION", "LAST JOB"],
                    rows.map { row in
                        let spec = row.pipeline.spec
                        return [
                            spec.name, spec.input.summary, spec.transform.summary, "\(spec.parallelism)",
                            "\(row.pipeline.version)",
                            row.lastJob.map { "\($0.state.rawValue) (\(Terminal.date($0.started)))" } ?? "-",
                        ]
                    })
            }
        }
    }

    struct Inspect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a pipeline: its spec, state and recent jobs.")
        @OptionGroup var store: StoreOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The pipeline.") var name: String

        struct View: Encodable {
            var pipeline: PipelineRecord
            var specHash: String
            var jobs: [JobInfo]
        }

        func run() async throws {
            try await store.withBackends { backends in
                let environment = try await store.openEngine(backends)
                let record = try await PipelineManager(environment: environment).pipeline(name)
                let jobs = try await environment.jobs.jobs(pipeline: name, limit: 5)
                if output.json {
                    return try Terminal.json(View(pipeline: record, specHash: record.spec.specHash, jobs: jobs))
                }
                let spec = record.spec
                print("Name:        \(spec.name)")
                print("Description: \(spec.description.isEmpty ? "-" : spec.description)")
                print("Input:       \(spec.input.summary)")
                print("Transform:   \(spec.transform.summary)")
                if let image = spec.transform.image {
                    print("Image:       \(image) (Pachyderm's and Kubernetes'; here the command runs on this host)")
                }
                print(
                    "Workers:     \(spec.parallelism)"
                        + (spec.autoscaling == true ? " (autoscaling on a scheduler)" : ""))
                if let limits = spec.resourceLimits { print("Limits:      \(limits.summary)") }
                if let requests = spec.resourceRequests { print("Requests:    \(requests.summary) (a scheduler's)") }
                if let salt = spec.salt { print("Salt:        \(salt)") }
                print("Datum tries: \(spec.datumTries)")
                print(
                    "Time-out:    \(spec.effectiveDatumTimeout) s" + (spec.datumTimeout == nil ? " (the default)" : ""))
                print("Spec hash:   \(spec.specHash)")
                print("Version:     \(record.version) (updated \(Terminal.date(record.updated)))")
                print("Run asked:   \(record.recomputeRequested ? "recompute" : record.runRequested ? "yes" : "no")")
                print("Recent jobs:")
                for job in jobs {
                    print(
                        "  \(job.id.prefix(12))  \(job.state.rawValue)  \(Terminal.date(job.started))  \(job.countsSummary)"
                    )
                }
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a pipeline with its jobs and, unless --keep-repo, its output repo.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "The pipeline.") var name: String
        @Flag(name: .long, help: "Keep the output repo and its commits.") var keepRepo = false

        func run() async throws {
            try await store.withBackends { backends in
                try await PipelineManager(environment: try await store.openEngine(backends)).delete(
                    name, keepOutput: keepRepo)
                print("deleted pipeline \(name)" + (keepRepo ? " (its repo is kept)" : " and its repo"))
            }
        }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Reprocess a pipeline: list every datum again, retrying failed ones, then run what follows.",
            discussion: """
                Runs the job here, then the jobs of the pipelines downstream, and prints them. If an engine \
                (`vigil engine`) is running, it may take the job first; this command then leaves it to it. \
                With --recompute every datum runs again from an empty output: how history is re-judged with \
                new rules (a side input's changes alone reprocess nothing).
                """)
        @OptionGroup var store: StoreOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The pipeline.") var name: String
        @Flag(name: .long, help: "Run every datum again, from an empty output.") var recompute = false

        func run() async throws {
            try await store.withBackends { backends in
                let environment = try await store.openEngine(backends, progress: !output.json)
                try await PipelineManager(environment: environment).requestRun(name, recompute: recompute)
                let jobs = try await PipelineEngine(environment: environment).runUntilIdle()
                JobPrinter.finish(jobs, json: output.json, emptyNote: "an engine running elsewhere took the job")
                if output.json { try Terminal.json(jobs) }
            }
        }
    }
}

extension PipelineCommand {
    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a pipeline's spec for Pachyderm (`pachctl create pipeline -f`).",
            discussion: """
                The spec is valid against Pachyderm's schema for CreatePipelineRequest. A built-in stage runs \
                as `vigil stage NAME` in Vigil's image (--image), reading /pfs/<input> and writing /pfs/out; \
                an external command keeps its own command and image. What does not carry over exactly is \
                named on standard error. docs/DEPLOY.md has the field-by-field mapping.
                """)
        enum Format: String, ExpressibleByArgument, CaseIterable {
            case pachyderm
        }

        @OptionGroup var store: StoreOptions
        @Argument(help: "The pipeline.") var name: String
        @Option(help: "The engine the spec is for: pachyderm.") var format: Format = .pachyderm
        @Option(help: "The image with Vigil in it, for built-in stages and commands that name no image.")
        var image = PachydermExport.defaultImage
        @Option(name: [.short, .long], help: "Write the spec to this file instead of standard output.")
        var output: String?

        func validate() throws {
            guard image.range(of: #"^[A-Za-z0-9][A-Za-z0-9._/:@+-]{0,254}$"#, options: .regularExpression) != nil
            else {
                throw ValidationError("--image '\(image)' is not an image reference (e.g. registry/vigil:0.2.0)")
            }
        }

        func run() async throws {
            try await store.withBackends { backends in
                let record = try await PipelineManager(environment: try await store.openEngine(backends)).pipeline(
                    name)
                let export = try PachydermExport(record.spec, image: image)
                for note in export.notes { Terminal.standardError("note: " + note) }
                var text = export.json
                text.append(0x0A)
                if let output {
                    do {
                        try text.write(to: URL(fileURLWithPath: output), options: .atomic)
                    } catch {
                        throw VigilError(.io, "cannot write \(output): \(error.localizedDescription)", value: output)
                    }
                } else {
                    FileHandle.standardOutput.write(text)
                }
            }
        }
    }
}

/// Reading a spec file, with the file named in errors and the fields that have no effect here in one warning.
enum PipelineSpecFile {
    static func read(_ path: String) throws -> (PipelineSpec, String) {
        let url = URL(fileURLWithPath: path)
        guard let source = try? String(contentsOf: url, encoding: .utf8) else {
            throw PipelineError(.badSpec, "cannot read the spec file '\(path)'", value: path)
        }
        let result = try PipelineSpecParser.read(contentsOf: url)
        if let warning = result.warning { Terminal.standardError(warning) }
        return (result.spec, source)
    }
}

/// Lines for finished jobs.
enum JobPrinter {
    static func finish(_ jobs: [JobInfo], json: Bool, emptyNote: String) {
        if Terminal.standardErrorIsTerminal, !json { Terminal.progressLine("") }
        guard !json else { return }
        if jobs.isEmpty { print("no job ran: nothing new (or \(emptyNote))") }
        for job in jobs {
            let output = job.output.map { "\(job.pipeline)@\($0.prefix(12))" } ?? "-"
            print(
                "\(job.pipeline): job \(job.id.prefix(12)) \(job.state.rawValue) in \(job.duration): \(job.countsSummary) → \(output)"
            )
            if let error = job.error { print("  error: \(error)") }
        }
    }
}

extension PipelineInput {
    var summary: String {
        switch self {
        case .pfs(let pfs):
            (pfs.name == pfs.repo ? "" : "\(pfs.name)=") + "\(pfs.repo)@\(pfs.branch):\(pfs.glob)"
        case .cross(let inputs): "cross(" + inputs.map(\.summary).joined(separator: ", ") + ")"
        case .union(let inputs): "union(" + inputs.map(\.summary).joined(separator: ", ") + ")"
        }
    }
}

extension ResourceLimits {
    var summary: String {
        var parts: [String] = []
        if let cpu { parts.append("cpu \(cpu.formatted())") }
        if let memory { parts.append("memory \(Terminal.bytes(memory))") }
        if let disk { parts.append("disk \(Terminal.bytes(disk))") }
        if let gpu { parts.append("\(gpu.number) \(gpu.type)") }
        return parts.isEmpty ? "-" : parts.joined(separator: ", ")
    }
}

extension Transform {
    var summary: String {
        if let stage {
            return "stage \(stage)"
                + (options.isEmpty
                    ? ""
                    : " \(options.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))")
        }
        return cmd.joined(separator: " ")
    }
}
