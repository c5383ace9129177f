import Foundation
import VigilStore

/// How long and how far apart a delivery is tried. An outage of the alert API only delays an alert: it is
/// tried with exponential backoff and jitter (so many alerts failing together do not retry in lock-step),
/// honouring the server's `Retry-After` up to the cap, until it is `horizon` seconds old. Only age or a
/// refusal by the API (a 4xx) ends it on the dead-letter list.
public struct RetryPolicy: Sendable, Hashable, Codable {
    /// Seconds a delivery is tried before it is given up as expired (default a day).
    public var horizon: Double
    /// The delay after the first failure; it doubles after each further one, up to `maxDelay`.
    public var baseDelay: Double
    public var maxDelay: Double

    public static let defaultHorizon: Double = 86_400

    public init(horizon: Double = defaultHorizon, baseDelay: Double = 0.5, maxDelay: Double = 60) {
        self.horizon = horizon
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// Seconds to wait after failed attempt number `attempt` (1-based): half the exponential delay plus a
    /// random part of up to the other half ("equal jitter"), never less than `retryAfter`, never over the cap.
    public func delay(
        afterAttempt attempt: Int, retryAfter: Double? = nil,
        random: (ClosedRange<Double>) -> Double = { Double.random(in: $0) }
    ) -> Double {
        let jittered = Backoff(base: baseDelay, maximum: maxDelay).delay(after: attempt, random: random)
        return min(maxDelay, max(jittered, retryAfter ?? 0))
    }

    func validate() throws {
        guard horizon > 0, baseDelay > 0, maxDelay >= baseDelay else {
            throw AlertError(
                .badConfiguration,
                "retries need a horizon above 0 s and 0 < base delay ≤ max delay "
                    + "(got \(horizon) s, \(baseDelay) s, \(maxDelay) s)")
        }
    }
}
