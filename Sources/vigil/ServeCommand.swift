import ArgumentParser
import Foundation
import Hummingbird
import Metrics
import Prometheus
import ServiceLifecycle
import VigilAccess
import VigilAlerts
import VigilBackends
import VigilPipeline
import VigilServer

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run Vigil: the HTTP API, the pipelines and (with --alert-url) the notifier, in one process.",
        discussion: """
            SIGTERM or SIGINT stop it gracefully: the server stops taking requests and lets those in flight \
            finish, pipeline workers stop at a datum boundary, deliveries in flight are recorded. The API is \
            described at /openapi.yaml (docs/openapi.yaml); tokens come from `vigil token create`.
            """)

    @OptionGroup var store: StoreOptions
    @OptionGroup(title: "Alerts (with --alert-url, the notifier runs too)") var alerts: NotifierOptions
    @Option(help: "The address to listen on.") var host = "127.0.0.1"
    @Option(help: "The port (0: any free one, printed at start).") var port = 8080
    @Option(help: "The largest image upload, in bytes.") var maxImageBytes = 20 << 20
    @Option(help: "The repo uploads go to (created if missing).") var imagesRepo = "images"
    @Flag(
        help:
            "Plan jobs and assemble their commits, but run no datums: `vigil worker` processes run them (needs a shared database)."
    )
    var noWorkers = false

    func run() async throws {
        try await store.withBackends { backends in
            var environment = try await store.openEngine(backends)
            try environment.runWithoutWorkers(noWorkers)
            if !store.verbose { environment.logger.logLevel = .info }
            let logger = environment.logger
            let registry = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
            var configuration = ServerConfiguration()
            configuration.host = host
            configuration.port = port
            configuration.maxImageBytes = maxImageBytes
            configuration.imagesRepo = imagesRepo
            if (try? await environment.store.repo(imagesRepo)) == nil {
                try await environment.store.createRepo(imagesRepo, description: "camera frames as uploaded")
            }
            var server = ServerEnvironment(
                store: environment.store, jobs: environment.jobs, alerts: try backends.alerts(),
                access: try backends.access(), metrics: registry, configuration: configuration,
                scratch: environment.scratch, logger: logger)
            server.queue = environment.queue
            let engine = PipelineEngine(environment: environment, changes: backends.changeFeed())
            let app = VigilAPI.application(server) { port in
                Terminal.standardError("vigil serve: listening on http://\(host):\(port)/ (API: /openapi.yaml)")
            }
            func serve(_ notifier: Notifier?) async throws {
                let services: [any Service] = [engine, app] + (notifier.map { [$0] } ?? [])
                let group = ServiceGroup(
                    configuration: .init(
                        services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint],
                        logger: logger))
                try await group.run()
            }
            guard alerts.isConfigured else { return try await serve(nil) }
            try await alerts.withNotifier(backends, logger: logger) { notifier in
                try await serve(notifier)
            }
        }
    }
}
