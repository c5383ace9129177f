import Foundation
import Synchronization

/// Stops hammering an alert API that is down: after `threshold` consecutive failures it opens, and deliveries
/// wait (without using up their attempts) until `coolDown` has passed; then one probe is let through
/// (half-open): its success closes the circuit, its failure opens it again.
public final class CircuitBreaker: Sendable {
    public enum State: Sendable, Equatable {
        case closed(failures: Int)
        case open(until: Date)
        case halfOpen(probing: Bool)
    }

    /// What a caller may do now.
    public enum Permit: Sendable, Equatable {
        /// Send as much as you like.
        case send
        /// Send one request, the probe.
        case probe
        /// Send nothing before this time.
        case wait(until: Date)
    }

    public let threshold: Int
    public let coolDown: Double
    private let state = Mutex<(state: State, openings: Int)>((.closed(failures: 0), 0))

    public init(threshold: Int = 5, coolDown: Double = 10) {
        self.threshold = max(1, threshold)
        self.coolDown = coolDown
    }

    public var current: State { state.withLock { $0.state } }
    /// How often it has opened (a figure for logs and tests).
    public var openings: Int { state.withLock { $0.openings } }

    /// Whether a request may go out at `now`; a `.probe` permit is given to one caller at a time.
    public func permit(at now: Date) -> Permit {
        state.withLock { breaker in
            switch breaker.state {
            case .closed:
                return .send
            case .open(let until) where now < until:
                return .wait(until: until)
            case .open, .halfOpen(probing: false):
                breaker.state = .halfOpen(probing: true)
                return .probe
            case .halfOpen(probing: true):
                // Until the probe answers; its outcome moves the state on and wakes the caller.
                return .wait(until: now.addingTimeInterval(coolDown))
            }
        }
    }

    public func recordSuccess() {
        state.withLock { $0.state = .closed(failures: 0) }
    }

    /// The probe a `.probe` permit allowed was not sent (nothing was due, or another notifier had it): the
    /// next caller may probe.
    public func returnProbe() {
        state.withLock { breaker in
            if breaker.state == .halfOpen(probing: true) { breaker.state = .halfOpen(probing: false) }
        }
    }

    /// A failure that says the API is unwell (a time-out, a refused connection, a 5xx).
    public func recordFailure(at now: Date) {
        state.withLock { breaker in
            switch breaker.state {
            case .closed(let failures) where failures + 1 < threshold:
                breaker.state = .closed(failures: failures + 1)
            case .open:
                break
            default:
                breaker.state = .open(until: now.addingTimeInterval(coolDown))
                breaker.openings += 1
            }
        }
    }
}
