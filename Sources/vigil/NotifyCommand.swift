import ArgumentParser
import Foundation
import ServiceLifecycle
import VigilAlerts
import VigilBackends
import VigilStages

struct NotifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notify",
        abstract: "Deliver each new threat to the alert API: signed, idempotent, retried, escalated.",
        discussion: """
            Runs until stopped (SIGINT or SIGTERM: deliveries in flight finish and are recorded). Each threat \
            record in the threats repo becomes an alert to its customer's first contact, then to the next when \
            nobody acknowledges in time (vigil alerts ack). Delivery state is in the data folder (or the shared \
            database), so a restarted notifier goes on where it stopped; a delivery it had sent but not recorded \
            goes again once its claim runs out (--alert-claim-lease), under the same Idempotency-Key, which the \
            receiver drops. Notifiers on several hosts may share one database: each delivery goes out once. With --until-idle it delivers what is \
            pending (retries included) and exits.
            """)

    @OptionGroup var store: StoreOptions
    @OptionGroup var alerts: NotifierOptions
    @Flag(name: .long, help: "Deliver what is pending and exit.") var untilIdle = false
    @OptionGroup(title: "Tracing") var tracing: TracingOptions
    @OptionGroup(title: "Probes") var health: HealthOptions

    func validate() throws {
        if untilIdle, tracing.otelEndpoint != nil {
            throw ValidationError("--otel-endpoint traces a running notifier; leave it out with --until-idle")
        }
        if untilIdle, health.healthPort != nil {
            throw ValidationError("--health-port probes a running notifier; leave it out with --until-idle")
        }
    }

    func run() async throws {
        let exporter = try tracing.start(command: "notify", logger: store.logger)
        try await store.withBackends { backends in
            var logger = store.logger
            if !untilIdle, !store.verbose { logger.logLevel = .info }
            try await alerts.withNotifier(backends, logger: logger) { notifier in
                if untilIdle {
                    try await notifier.runUntilIdle()
                    AlertPrinter.summary(try await notifier.database.counts())
                    return
                }
                let services: [any Service] =
                    (exporter.map { [$0] } ?? []) + [notifier, HeapTrim(logger: logger)]
                    + health.services(store: backends.store, logger: logger)
                let group = ServiceGroup(
                    configuration: .init(
                        services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint],
                        logger: logger))
                Terminal.standardError(
                    "vigil notify: delivering \(alerts.alertRepo) to \(notifier.transport.destination); Ctrl-C stops it"
                )
                try await group.run()
            }
        }
    }
}
