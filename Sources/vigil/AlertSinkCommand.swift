import ArgumentParser
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import VigilAlertSink
import VigilAlerts

struct AlertSinkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alert-sink",
        abstract: "A small real alert API for demos and tests: verifies signatures, keeps each alert once.",
        discussion: """
            Stands in for the email/SMS service: POST /v1/alerts takes an alert (X-Vigil-Signature must be the \
            HMAC-SHA256 of the body under the shared secret; a repeated Idempotency-Key is answered 200 and not \
            stored again). GET /v1/alerts lists what arrived, GET /v1/stats counts, PUT /v1/behaviour \
            {"failNext": 3, "failStatus": 503, "delayMs": 2000, "delayNext": 1, "failRate": 0.2} injects \
            failures and delays. Each alert received is printed as a line on standard output.
            """)

    @Option(help: "The address to listen on (loopback by default).") var host = "127.0.0.1"
    @Option(help: "The port (0: any free one, printed at start).") var port = 8025
    @Option(help: "A file holding the shared signing secret (default: $VIGIL_ALERT_SECRET).") var secretFile: String?
    @Option(help: "A file to append each alert to as a JSON line (read back at start, so keys survive a restart).")
    var journal: String?
    @Option(help: "Answer the first N alerts with --fail-status.") var failNext = 0
    @Option(help: "The status of injected failures.") var failStatus = 500
    @Option(help: "Answer this share (0-1) of alerts with --fail-status, at random.") var failRate = 0.0
    @Option(help: "Wait this many milliseconds before answering the first --delay-next alerts.") var delayMs = 0
    @Option(help: "How many alerts --delay-ms applies to.") var delayNext = 0
    @Flag(help: "Log each request to standard error.") var verbose = false

    func run() async throws {
        var options = NotifierOptions()
        options.alertSecretFile = secretFile
        let sink = try AlertSink(
            signature: try options.signature(), journal: journal.map { URL(fileURLWithPath: $0) },
            behaviour: .init(
                failNext: failNext, failStatus: failStatus, failRate: failRate, delayMs: delayMs, delayNext: delayNext),
            onReceive: { received in
                let alert = received.alert
                // Written at once (not buffered), so a reader of a pipe sees each alert as it arrives.
                let line =
                    "\(Terminal.date(received.receivedAt))  \(received.idempotencyKey)  to \(alert.contact.name)"
                    + " <\(alert.contact.email ?? alert.contact.phone ?? "-")>: \(alert.message)\n"
                FileHandle.standardOutput.write(Data(line.utf8))
            })
        var logger = Logger(label: "vigil-alert-sink") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = verbose ? .debug : .warning
        let app = sink.application(host: host, port: port, logger: logger) { port in
            Terminal.standardError("vigil alert-sink: listening on http://\(host):\(port)/v1/alerts; Ctrl-C stops it")
        }
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: app)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        let stats = sink.stats
        Terminal.standardError(
            "vigil alert-sink: \(stats.received) alerts received, \(stats.duplicates) duplicates dropped, "
                + "\(stats.badSignatures) bad signatures, \(stats.badRequests) bad requests, "
                + "\(stats.injectedFailures) failures injected, \(stats.delayed) delayed")
    }
}
