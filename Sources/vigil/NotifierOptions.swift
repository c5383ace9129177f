import ArgumentParser
import Foundation
import Logging
import VigilAlerts
import VigilBackends
import VigilStore

/// Where alerts go and how hard the notifier tries: shared by `vigil notify` and `vigil engine` (which runs
/// the notifier beside the pipelines when given an alert URL).
struct NotifierOptions: ParsableArguments {
    @Option(name: .long, help: "The alert API to POST alerts to (default: $VIGIL_ALERT_URL).")
    var alertURL: String?

    @Option(
        name: .long,
        help: "A file holding the shared signing secret (default: $VIGIL_ALERT_SECRET); at least 16 bytes.")
    var alertSecretFile: String?

    @Option(name: .long, help: "The repo whose threat records become alerts.") var alertRepo = "threats"
    @Option(name: .long, help: "Seconds a delivery may take before it counts as failed.") var alertTimeout = 5.0
    @Option(
        name: .long,
        help: "Seconds an alert is retried through an outage of the API before it expires to the dead-letter list.")
    var alertHorizon = RetryPolicy.defaultHorizon
    @Option(name: .long, help: "Seconds before the first retry; doubles each time (with jitter).")
    var alertRetryBase = 0.5
    @Option(name: .long, help: "The longest wait between retries, in seconds.") var alertRetryMax = 60.0
    @Option(name: .long, help: "Deliveries in flight at once.") var alertConcurrency = 8
    @Option(name: .long, help: "Consecutive failures that open the circuit breaker.") var alertBreakerThreshold = 5
    @Option(name: .long, help: "Seconds the open circuit waits before one probe.") var alertBreakerCoolDown = 10.0
    @Option(
        name: .long,
        help:
            "How the payload shows the image: link (its address, and a URL with --alert-image-url) or inline (base64).")
    var alertImage = "link"
    @Option(
        name: .long,
        help: """
            Seconds a notifier holds a delivery it started before another notifier sharing the database may send \
            it: more than --alert-timeout, and how late a notifier killed mid-delivery makes it.
            """)
    var alertClaimLease = 30.0
    @Option(name: .long, help: "A link to the image for the receiver, with {repo}, {commit} and {path} filled in.")
    var alertImageURL: String?

    /// Whether the notifier was asked for (an alert URL given or in the environment).
    var isConfigured: Bool { resolvedURL != nil }

    private var resolvedURL: String? { alertURL ?? ProcessInfo.processInfo.environment["VIGIL_ALERT_URL"] }

    func configuration() throws -> NotifierConfiguration {
        var configuration = NotifierConfiguration()
        configuration.repo = alertRepo
        configuration.retry = RetryPolicy(
            horizon: alertHorizon, baseDelay: alertRetryBase, maxDelay: alertRetryMax)
        configuration.concurrency = alertConcurrency
        configuration.breakerThreshold = alertBreakerThreshold
        configuration.breakerCoolDown = alertBreakerCoolDown
        guard alertClaimLease > alertTimeout else {
            throw ValidationError(
                "--alert-claim-lease (\(alertClaimLease) s) must be longer than --alert-timeout (\(alertTimeout) s)")
        }
        configuration.claimLease = alertClaimLease
        guard let image = NotifierConfiguration.ImageMode(rawValue: alertImage) else {
            throw ValidationError("--alert-image must be link or inline, not '\(alertImage)'")
        }
        configuration.image = image
        configuration.imageURL = alertImageURL
        try configuration.validate()
        return configuration
    }

    /// The signing secret: from the file, else the environment; never from the command line, where `ps` shows it.
    func signature() throws -> AlertSignature {
        if let alertSecretFile {
            guard let text = try? String(contentsOfFile: alertSecretFile, encoding: .utf8) else {
                throw AlertError(
                    .badConfiguration, "cannot read the secret file '\(alertSecretFile)'", value: alertSecretFile)
            }
            return try AlertSignature(secret: text)
        }
        guard let secret = ProcessInfo.processInfo.environment["VIGIL_ALERT_SECRET"] else {
            throw AlertError(
                .badConfiguration,
                "alerts are signed with a shared secret: pass --alert-secret-file FILE or set VIGIL_ALERT_SECRET")
        }
        return try AlertSignature(secret: secret)
    }

    func transport() throws -> HTTPAlertTransport {
        guard let text = resolvedURL, let url = URL(string: text) else {
            throw AlertError(
                .badConfiguration, "no alert API: pass --alert-url URL or set VIGIL_ALERT_URL",
                value: alertURL)
        }
        return try HTTPAlertTransport(
            url: url, signature: try signature(), timeout: alertTimeout, maxConnections: alertConcurrency)
    }

    /// Runs `body` with the notifier over `backends` (watching for other processes' commits and actions),
    /// then closes its connections, also when `body` throws.
    func withNotifier<T>(
        _ backends: Backends, logger: Logger, _ body: (Notifier) async throws -> T
    ) async throws -> T {
        let configuration = try configuration()
        let database = try backends.alerts()
        let store = backends.store
        let transport = try transport()
        do {
            let notifier = try Notifier(
                store: store, database: database, transport: transport, configuration: configuration,
                changes: backends.changeFeed(), logger: logger)
            let result = try await body(notifier)
            await transport.shutdown()
            return result
        } catch {
            await transport.shutdown()
            throw error
        }
    }
}
