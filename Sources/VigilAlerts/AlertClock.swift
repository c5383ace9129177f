import Foundation

/// Wall-clock time for the notifier: delivery state is kept across restarts, so times are dates, not
/// instants of a process's monotonic clock. Tests inject a clock they advance by hand (escalation after ten
/// minutes takes no ten minutes).
public protocol AlertClock: Sendable {
    func now() -> Date
    /// Returns at `deadline` (or throws `CancellationError` when the task is cancelled first).
    func sleep(until deadline: Date) async throws
}

/// The system's clock.
public struct SystemAlertClock: AlertClock {
    public init() {}

    public func now() -> Date { Date() }

    public func sleep(until deadline: Date) async throws {
        let seconds = deadline.timeIntervalSinceNow
        if seconds > 0 { try await Task.sleep(for: .seconds(seconds)) }
    }
}
