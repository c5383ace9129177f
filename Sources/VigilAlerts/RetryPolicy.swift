import Foundation

/// How often and how far apart a delivery is tried: exponential backoff with jitter (so many alerts failing
/// together do not retry in lock-step), honouring the server's `Retry-After` up to the cap.
public struct RetryPolicy: Sendable, Hashable, Codable {
    /// Attempts before an alert goes to the dead-letter list (attempts the circuit breaker holds back are not
    /// counted).
    public var maxAttempts: Int
    /// The delay after the first failure; it doubles after each further one, up to `maxDelay`.
    public var baseDelay: Double
    public var maxDelay: Double

    public init(maxAttempts: Int = 12, baseDelay: Double = 0.5, maxDelay: Double = 60) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// Seconds to wait after failed attempt number `attempt` (1-based): half the exponential delay plus a
    /// random part of up to the other half ("equal jitter"), never less than `retryAfter`, never over the cap.
    public func delay(
        afterAttempt attempt: Int, retryAfter: Double? = nil,
        random: (ClosedRange<Double>) -> Double = { Double.random(in: $0) }
    ) -> Double {
        let exponential = min(maxDelay, baseDelay * pow(2, Double(max(0, attempt - 1))))
        let jittered = exponential / 2 + random(0...(exponential / 2))
        return min(maxDelay, max(jittered, retryAfter ?? 0))
    }

    func validate() throws {
        guard maxAttempts >= 1, baseDelay > 0, maxDelay >= baseDelay else {
            throw AlertError(
                .badConfiguration,
                "retries need at least 1 attempt and 0 < base delay ≤ max delay "
                    + "(got \(maxAttempts) attempts, \(baseDelay) s, \(maxDelay) s)")
        }
    }
}
