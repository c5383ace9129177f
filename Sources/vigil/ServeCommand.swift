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
import VigilStages
import VigilStore

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
    @OptionGroup(title: "Tracing") var tracing: TracingOptions
    @Option(help: "The address to listen on.") var host = "127.0.0.1"
    @Option(help: "The port (0: any free one, printed at start).") var port = 8080
    @Option(help: "The largest image upload, in bytes.") var maxImageBytes = 20 << 20
    @Option(help: "The repo uploads go to (created if missing).") var imagesRepo = "images"
    @Option(help: "Seconds a connection may send nothing (before a request is whole, between requests, mid-body).")
    var idleTimeout = 60.0
    @Option(help: "Seconds an upload's body may take to arrive in all (408 past it).") var bodyTimeout = 120.0
    @Option(help: "Connections served at once; more wait until one closes.") var maxConnections = 4_096
    @Option(
        help:
            "Where users reach the service (https://vigil.example.com behind a TLS proxy): HTTPS makes the sign-in cookie Secure."
    )
    var publicURL: String?
    @Option(help: "Requests without a valid token allowed per minute from one address or for one token id (then 429).")
    var signInLimit = 10
    @Option(
        help:
            "Seconds a graceful stop waits for requests and datums in flight before cutting them off (nothing half-committed either way)."
    )
    var shutdownTimeout = 30.0
    @Option(
        help: ArgumentHelp(
            "How long audit entries are kept (365d, 12w, 36h…); older ones are deleted hourly.", valueName: "duration"))
    var auditRetention = DurationArgument(seconds: 365 * 86_400)
    @Option(
        help: ArgumentHelp(
            "How often each customer's retention (the rules' `retention`) is applied; also once at start.",
            valueName: "duration"))
    var retentionEvery = DurationArgument(seconds: 3_600)
    @Flag(
        help:
            "Plan jobs and assemble their commits, but run no datums: `vigil worker` processes run them (needs a shared database)."
    )
    var noWorkers = false

    func validate() throws {
        if let publicURL {
            guard let url = URL(string: publicURL), ["http", "https"].contains(url.scheme?.lowercased() ?? ""),
                url.host?.isEmpty == false
            else {
                throw ValidationError(
                    "--public-url must be an http:// or https:// address with a host, not '\(publicURL)'")
            }
        }
        for (name, value) in [
            ("--idle-timeout", idleTimeout), ("--body-timeout", bodyTimeout), ("--shutdown-timeout", shutdownTimeout),
        ] where !(value >= 0.1 && value <= 86_400) {
            throw ValidationError("\(name) must be between 0.1 and 86400 seconds, not \(value)")
        }
        guard (1...1_000_000).contains(signInLimit) else {
            throw ValidationError("--sign-in-limit must be between 1 and 1000000, not \(signInLimit)")
        }
        guard (1...1_000_000).contains(maxConnections) else {
            throw ValidationError("--max-connections must be between 1 and 1000000, not \(maxConnections)")
        }
        guard (1...(1 << 40)).contains(maxImageBytes) else {
            throw ValidationError("--max-image-bytes must be between 1 and 2^40, not \(maxImageBytes)")
        }
    }

    func run() async throws {
        let exporter = try tracing.start(command: "serve", logger: store.logger)
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
            configuration.idleTimeout = idleTimeout
            configuration.bodyTimeout = bodyTimeout
            configuration.maxConnections = maxConnections
            configuration.publicURL = publicURL.flatMap { URL(string: $0) }
            if let warning = OpenFileLimit.raise(toServe: maxConnections) {
                logger.warning("\(warning)")
            }
            if let warning = DataFolder.openToOthers(store.homeURL) { logger.warning("\(warning)") }
            try await environment.store.createRepoIfMissing(imagesRepo, description: "camera frames as uploaded")
            var server = ServerEnvironment(
                store: environment.store, jobs: environment.jobs, alerts: try backends.alerts(),
                access: try backends.access(), metrics: registry, configuration: configuration,
                scratch: environment.scratch, logger: logger)
            server.queue = environment.queue
            server.throttle = SignInThrottle(limits: .init(failures: signInLimit))
            let engine = PipelineEngine(environment: environment, changes: backends.changeFeed())
            let app = VigilAPI.application(server) { port in
                Terminal.standardError("vigil serve: listening on http://\(host):\(port)/ (API: /openapi.yaml)")
            }
            func serve(_ notifier: Notifier?) async throws {
                let retention = AuditRetention(
                    access: server.access, retention: auditRetention.seconds, logger: logger)
                let dataRetention = RetentionSchedule(
                    runner: RetentionRunner(
                        store: server.store, alerts: server.alerts, access: server.access,
                        configuration: configuration, logger: logger),
                    interval: retentionEvery.seconds, logger: logger)
                // The exporter first: it stops last, after sending the spans of everything else.
                let erasures = ErasureWatch(
                    log: server.store.metadata, changes: backends.changeFeed(), logger: logger)
                let services: [any Service] =
                    (exporter.map { [$0] } ?? []) + [
                        WriterLeaseKeeper(store: server.store, logger: logger), engine, retention, dataRetention,
                        erasures, app, HeapTrim(logger: logger),
                    ]
                    + server.store.blobFilesMadeAhead
                    + (notifier.map { [$0] } ?? [])
                var lifecycle = ServiceGroupConfiguration(
                    services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger)
                // Past it the group is cancelled: requests still streaming are cut (never committed half),
                // datums in flight are left to be run again.
                lifecycle.maximumGracefulShutdownDuration = .milliseconds(Int64(shutdownTimeout * 1_000))
                let group = ServiceGroup(configuration: lifecycle)
                try await group.run()
            }
            guard alerts.isConfigured else { return try await serve(nil) }
            try await alerts.withNotifier(backends, logger: logger) { notifier in
                try await serve(notifier)
            }
        }
    }
}
