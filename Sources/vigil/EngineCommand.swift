import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import VigilAlerts
import VigilBackends
import VigilPipeline
import VigilStages
import VigilStore

struct EngineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "Run the pipelines: every new commit on an input starts the jobs downstream at once.",
        discussion: """
            Runs until stopped. SIGINT or SIGTERM stop it gracefully: running jobs stop at a datum boundary and \
            resume, without redoing finished datums, when an engine starts again (as do the jobs of an engine \
            that was killed). With --until-idle it processes what is pending and exits.
            """)

    @OptionGroup var store: StoreOptions
    @Flag(name: .long, help: "Process what is pending (upstream first), print the jobs, and exit.")
    var untilIdle = false
    @Flag(
        help:
            "Plan jobs and assemble their commits, but run no datums: `vigil worker` processes run them (needs a shared database)."
    )
    var noWorkers = false
    @OptionGroup(title: "Alerts (with --alert-url, the notifier runs beside the pipelines)") var alerts: NotifierOptions
    @OptionGroup(title: "Tracing") var tracing: TracingOptions

    func validate() throws {
        if untilIdle, tracing.otelEndpoint != nil {
            throw ValidationError("--otel-endpoint traces a running engine; leave it out with --until-idle")
        }
    }

    func run() async throws {
        // Before any logger is made: log lines then carry trace ids.
        let exporter = try tracing.start(command: "engine", logger: store.logger)
        try await store.withBackends { backends in
            var environment = try await store.openEngine(backends, progress: untilIdle)
            try environment.runWithoutWorkers(noWorkers)
            // A service says what it does (jobs started and finished) unless told to be quieter.
            if !untilIdle, !store.verbose { environment.logger.logLevel = .info }
            if !untilIdle, let warning = DataFolder.openToOthers(store.homeURL) {
                environment.logger.warning("\(warning)")
            }
            let engine = PipelineEngine(environment: environment, changes: backends.changeFeed())
            let erasures = ErasureWatch(
                log: environment.store.metadata, changes: backends.changeFeed(), logger: environment.logger)
            guard alerts.isConfigured else {
                return try await run(engine, erasures: erasures, exporter: exporter, logger: environment.logger)
            }
            try await alerts.withNotifier(backends, logger: environment.logger) {
                notifier in
                try await run(
                    engine, erasures: erasures, notifier: notifier, exporter: exporter, logger: environment.logger)
            }
        }
    }

    private func run(
        _ engine: PipelineEngine, erasures: ErasureWatch, notifier: Notifier? = nil, exporter: (any Service)?,
        logger: Logger
    ) async throws {
        if untilIdle {
            JobPrinter.finish(
                try await engine.runUntilIdle(), json: false, emptyNote: "an engine running elsewhere has it")
            if let notifier {
                try await notifier.runUntilIdle()
                AlertPrinter.summary(try await notifier.database.counts())
            }
            return
        }
        let services: [any Service] =
            (exporter.map { [$0] } ?? []) + [
                WriterLeaseKeeper(store: engine.environment.store, logger: logger), engine, erasures,
                HeapTrim(logger: logger),
            ]
            + engine.environment.store.blobFilesMadeAhead
            + (notifier.map { [$0] } ?? [])
        let group = ServiceGroup(
            configuration: .init(
                services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        Terminal.standardError(
            "vigil engine: running pipelines in \(store.homeURL.path)"
                + (notifier.map { ", alerts to \($0.transport.destination)" } ?? "") + "; Ctrl-C stops it")
        try await group.run()
    }
}
