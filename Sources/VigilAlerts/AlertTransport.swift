import Foundation

/// One alert to one contact, ready to go: the exact body (signed as it is) and its idempotency key.
public struct OutgoingAlert: Sendable, Hashable {
    public var idempotencyKey: String
    public var body: Data
    /// 1 for the first try.
    public var attempt: Int

    public init(idempotencyKey: String, body: Data, attempt: Int) {
        self.idempotencyKey = idempotencyKey
        self.body = body
        self.attempt = attempt
    }
}

/// What became of one attempt.
public enum DeliveryOutcome: Sendable, Hashable {
    /// Accepted (also when the receiver had it already: it dedups by the idempotency key).
    case delivered(status: Int)
    /// Worth trying again: a time-out, a refused connection, 408, 429 or a 5xx.
    case failed(status: Int?, reason: String, retryAfter: Double?)
    /// The receiver will not take it as it is (another 4xx): trying again cannot help.
    case rejected(status: Int, reason: String)
}

/// Where alerts go: the seam between the notifier's bookkeeping and a delivery channel. An implementation
/// never throws for a failed delivery; it says what happened, and the notifier decides about retries.
public protocol AlertTransport: Sendable {
    /// Where it delivers to, for logs and `vigil alerts show`.
    var destination: String { get }
    func send(_ alert: OutgoingAlert) async -> DeliveryOutcome
    /// Releases connections; called once, after the last send.
    func shutdown() async
}
