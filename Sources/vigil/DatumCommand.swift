import ArgumentParser
import Foundation
import VigilBackends
import VigilPipeline
import VigilStore

struct DatumCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "datum", abstract: "The datums of a job: what each read, how it ended.", subcommands: [List.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A job's datums that ran (success or failure), in the order they finished.")
        @OptionGroup var store: StoreOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The job id, or a unique prefix of it.") var job: String
        @Option(name: .long, help: "Only datums in this state: success or failed.") var state: DatumState?
        @Option(name: .long, help: "At most this many.") var limit = 1000

        func run() async throws {
            try await store.withBackends { backends in
                let environment = try await store.openEngine(backends)
                let job = try await JobLookup.find(self.job, in: environment.jobs)
                let datums = try await environment.jobs.datums(job: job.id, state: state, limit: limit)
                if output.json { return try Terminal.json(datums) }
                Terminal.table(
                    ["DATUM", "STATE", "TRIES", "WORKER", "INPUTS", "OUTPUTS", "ERROR"],
                    datums.map {
                        [
                            String($0.datum.prefix(12)), $0.state.rawValue, "\($0.attempts)", $0.worker ?? "-",
                            $0.inputs.map { "\($0.name):\($0.path)" }.joined(separator: " "), "\($0.outputs.count)",
                            ($0.error ?? "").replacingOccurrences(of: "\n", with: " "),
                        ]
                    })
            }
        }
    }
}

extension DatumState: ExpressibleByArgument {}

struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "What datums printed (the last 64 KiB each): of a job, or of a pipeline's last job.",
        discussion: "Example: vigil logs --pipeline detect --failed")

    @OptionGroup var store: StoreOptions
    @Option(name: [.short, .long], help: "The pipeline (its last job).") var pipeline: String?
    @Option(name: [.short, .long], help: "The job id or a unique prefix.") var job: String?
    @Option(name: [.short, .long], help: "Only this datum (id or prefix).") var datum: String?
    @Flag(name: .long, help: "Only failed datums.") var failed = false

    func validate() throws {
        guard (pipeline == nil) != (job == nil) else { throw ValidationError("give --pipeline or --job (one of them)") }
    }

    func run() async throws {
        try await store.withBackends { backends in
            let environment = try await store.openEngine(backends)
            let job: JobInfo
            if let id = self.job {
                job = try await JobLookup.find(id, in: environment.jobs)
            } else {
                let name = pipeline!
                _ = try await PipelineManager(environment: environment).pipeline(name)
                guard let last = try await environment.jobs.jobs(pipeline: name, limit: 1).first else {
                    print("pipeline \(name) has run no job yet")
                    return
                }
                job = last
            }
            let datums = try await environment.jobs.datums(job: job.id, state: failed ? .failed : nil, limit: .max)
                .filter { datum == nil || $0.datum.hasPrefix(datum!) }
            for record in datums where !record.log.isEmpty || record.error != nil {
                print(
                    "== \(job.pipeline) job \(job.id.prefix(12)) datum \(record.datum.prefix(12)) (\(record.state.rawValue), "
                        + "\(record.inputs.map(\.path).joined(separator: " ")))")
                if !record.log.isEmpty { print(record.log, terminator: record.log.hasSuffix("\n") ? "" : "\n") }
                if let error = record.error { print("error: \(error)") }
            }
        }
    }
}
