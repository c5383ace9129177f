import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import VigilBackends
import VigilPipeline
import VigilStages
import VigilStore

struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run one pipeline's datums, on any host that reaches the shared database and blob store.",
        discussion: """
            With a shared database (docs/DEPLOY.md), engines queue each job's datums and workers on any host \
            claim them: `vigil worker --pipeline detect` on as many hosts as the stage needs. A worker needs no \
            data of its own (an empty --home with the database and blob store configured). SIGTERM or SIGINT \
            stop it gracefully: datums running finish and are recorded first.
            """,
        subcommands: [Run.self, List.self], defaultSubcommand: Run.self)

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run", abstract: "Claim and run one pipeline's datums until stopped (the default).")
        @OptionGroup var store: StoreOptions
        @OptionGroup(title: "Tracing") var tracing: TracingOptions
        @OptionGroup(title: "Probes") var health: HealthOptions
        @Option(name: [.short, .long], help: "The pipeline whose datums this worker runs.") var pipeline: String
        @Option(help: "Datums run at once (default: the spec's parallelism).") var concurrency: Int?
        @Option(help: "The worker's name, unique among live workers (default: host:pid:pipeline).") var name: String?
        @Option(help: "Seconds a claim lasts without a heartbeat before other workers may take the datum.")
        var lease = 10.0

        func validate() throws {
            if let concurrency, !(1...1024).contains(concurrency) {
                throw ValidationError("--concurrency must be between 1 and 1024, not \(concurrency)")
            }
            guard lease >= 1, lease <= 3600 else {
                throw ValidationError("--lease must be between 1 and 3600 seconds, not \(lease)")
            }
            if let name, name.isEmpty || name.count > 200 || name.contains(where: \.isNewline) {
                throw ValidationError("--name must be 1 to 200 characters on one line")
            }
        }

        func run() async throws {
            let exporter = try tracing.start(command: "worker", logger: store.logger)
            try await store.withBackends { backends in
                let queue = try WorkerCommand.queue(backends, for: "vigil worker")
                var environment = try await store.openEngine(backends)
                if !store.verbose { environment.logger.logLevel = .info }
                environment.datumLease = lease
                guard let record = try await environment.jobs.pipeline(named: pipeline) else {
                    throw PipelineError(
                        .pipelineNotFound,
                        "no pipeline named '\(pipeline)' in this database; `vigil pipeline list` shows them, "
                            + "`vigil pipeline create` makes one", value: pipeline)
                }
                let worker = DatumWorker(
                    pipeline: pipeline, concurrency: concurrency ?? record.spec.parallelism, name: name, queue: queue,
                    environment: environment)
                try await worker.register()
                Terminal.standardError(
                    "vigil worker: running datums of '\(pipeline)' as \(worker.name), \(worker.concurrency) at once; "
                        + "Ctrl-C stops it")
                let service = WorkerService(worker: worker, changes: backends.changeFeed())
                let services: [any Service] =
                    (exporter.map { [$0] } ?? []) + [
                        WriterLeaseKeeper(store: environment.store, logger: environment.logger), service,
                        HeapTrim(logger: environment.logger),
                    ]
                    + environment.store.blobFilesMadeAhead
                    + health.services(store: backends.store, logger: environment.logger)
                let group = ServiceGroup(
                    configuration: .init(
                        services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint],
                        logger: environment.logger))
                try await group.run()
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The workers registered in the shared database: pipeline, host, claims, last heartbeat.")
        @OptionGroup var store: StoreOptions
        @OptionGroup var output: OutputOptions
        @Option(name: [.short, .long], help: "Only this pipeline's workers.") var pipeline: String?

        func run() async throws {
            try await store.withBackends { backends in
                let queue = try WorkerCommand.queue(backends, for: "vigil worker list")
                let workers = try await queue.workers().filter { pipeline == nil || $0.worker.pipeline == pipeline }
                if output.json { return try Terminal.json(workers) }
                if workers.isEmpty {
                    return Terminal.standardError(
                        "no workers are registered" + (pipeline.map { " for '\($0)'" } ?? "")
                            + "; start one with `vigil worker --pipeline NAME`")
                }
                Terminal.table(
                    ["PIPELINE", "WORKER", "HOST", "STATE", "CLAIMED", "DONE", "HEARTBEAT", "VERSION"],
                    workers.map { status in
                        [
                            status.worker.pipeline, status.worker.name, status.worker.host,
                            WorkerCommand.state(of: status), "\(status.claimed)/\(status.worker.concurrency)",
                            "\(status.finished)", String(format: "%.1f s ago", max(0, status.silentFor)),
                            status.worker.version,
                        ]
                    })
            }
        }
    }

    /// The shared queue, or a one-line error saying what is missing.
    static func queue(_ backends: Backends, for command: String) throws -> any DatumQueue {
        guard let queue = backends.datumQueue() else {
            throw VigilError(
                .badConfiguration,
                "\(command) works on a shared database, and this data folder has none: give --database "
                    + "postgres://… (see docs/DEPLOY.md); on one host `vigil engine` runs every datum itself",
                value: backends.home.path)
        }
        return queue
    }

    /// A worker's state in words; one silent too long (`seemsGone`) is presumed gone.
    static func state(of status: WorkerStatus) -> String {
        if status.seemsGone { return "silent (gone?)" }
        guard let error = status.worker.lastError else { return status.worker.state }
        // An outage it waited out stays shown, so one that passed unseen is still noticed.
        return "\(status.worker.state) (last error: \(error.prefix(60)))"
    }
}

/// A worker as a service of its process, woken by the change feed.
struct WorkerService: Service {
    let worker: DatumWorker
    let changes: any ChangeFeed

    func run() async throws {
        try await worker.serve(changes: changes)
    }
}
