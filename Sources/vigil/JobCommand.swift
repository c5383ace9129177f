import ArgumentParser
import Foundation
import VigilBackends
import VigilPipeline
import VigilStore

struct JobCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "job", abstract: "List and inspect the jobs pipelines ran.",
        subcommands: [List.self, Inspect.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Jobs, newest first.")
        @OptionGroup var store: StoreOptions
        @OptionGroup var output: OutputOptions
        @Option(name: [.short, .long], help: "Only this pipeline's jobs.") var pipeline: String?
        @Option(name: .long, help: "At most this many.") var limit = 50

        func run() async throws {
            try await store.withBackends { backends in
                let environment = try await store.openEngine(backends)
                if let pipeline { _ = try await PipelineManager(environment: environment).pipeline(pipeline) }
                let jobs = try await environment.jobs.jobs(pipeline: pipeline, limit: limit)
                if output.json { return try Terminal.json(jobs) }
                Terminal.table(
                    ["JOB", "PIPELINE", "STATE", "STARTED", "DURATION", "DATUMS", "OUTPUT"],
                    jobs.map {
                        [
                            String($0.id.prefix(12)), $0.pipeline, $0.state.rawValue, Terminal.date($0.started),
                            $0.duration,
                            $0.countsSummary, $0.output.map { String($0.prefix(12)) } ?? "-",
                        ]
                    })
            }
        }
    }

    struct Inspect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one job: inputs, output, counts, error.")
        @OptionGroup var store: StoreOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The job id, or a unique prefix of it.") var job: String

        func run() async throws {
            try await store.withBackends { backends in
                let environment = try await store.openEngine(backends)
                let job = try await JobLookup.find(self.job, in: environment.jobs)
                if output.json { return try Terminal.json(job) }
                print("Job:        \(job.id)")
                print("Pipeline:   \(job.pipeline)")
                print("State:      \(job.state.rawValue)")
                print("Kind:       \(job.full ? "full (every datum listed)" : "incremental (the inputs' diff)")")
                print("Spec hash:  \(job.specHash)")
                print(
                    "Inputs:     \(job.inputCommits.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))"
                )
                print("Base:       \(job.baseOutput ?? "-")")
                print("Output:     \(job.output.map { "\(job.pipeline)@\($0)" } ?? "-")")
                print("Started:    \(Terminal.date(job.started))")
                print("Finished:   \(job.finished.map(Terminal.date) ?? "-") (\(job.duration))")
                print("Datums:     \(job.counts.total) considered: \(job.countsSummary)")
                if let error = job.error { print("Error:      \(error)") }
                if job.counts.failed > 0 { print("Failures:   vigil datum list \(job.id.prefix(12)) --state failed") }
            }
        }
    }
}

enum JobLookup {
    /// A job by id or unique prefix.
    static func find(_ text: String, in jobs: any JobStore) async throws -> JobInfo {
        if let job = try await jobs.job(id: text) { return job }
        let matches = try await jobs.jobs(pipeline: nil, limit: .max).filter { $0.id.hasPrefix(text.lowercased()) }
        guard matches.count < 2 else {
            throw PipelineError(.jobNotFound, "'\(text)' matches several jobs; give more digits", value: text)
        }
        guard let job = matches.first else {
            throw PipelineError(.jobNotFound, "no job '\(text)'; `vigil job list` shows them", value: text)
        }
        return job
    }
}
