import Dispatch
import Synchronization

/// A sleep for time-outs that nearly always end early. A cancelled `Task.sleep` returns at once, but its timer,
/// and with it the sleeping task's memory (about 0.7 KB here), stays until the original deadline
/// (swiftlang/swift#60441): a 600 s time-out raced against every datum held about 25 MB at 60 datums/s, a 10 s
/// one against every PostgreSQL query some 7 MB per 1,000 queries a second. This sleep waits on a dispatch
/// timer that a cancellation cancels, which frees it then and there.
public final class ReleasingSleep: Sendable {
    /// A dispatch source may be cancelled from any thread; the overlay does not say it is Sendable.
    private struct Timer: @unchecked Sendable {
        let source: any DispatchSourceTimer
    }

    private enum State {
        case idle
        case cancelled
        case waiting(CheckedContinuation<Void, any Error>, Timer)
        case ended
    }

    private let state = Mutex(State.idle)

    public init() {}

    /// Returns after `duration`; throws `CancellationError` as soon as the task is cancelled. One wait per
    /// instance.
    public func wait(for duration: Duration) async throws {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { start($0, seconds: duration.inSeconds) }
        } onCancel: {
            end(cancelled: true)
        }
    }

    /// Like `Task.sleep(for:)`, but lets go of its timer when cancelled.
    public static func sleep(for duration: Duration) async throws {
        try await ReleasingSleep().wait(for: duration)
    }

    private func start(_ continuation: CheckedContinuation<Void, any Error>, seconds: Double) {
        let timer = DispatchSource.makeTimerSource()
        timer.setEventHandler { [self] in end(cancelled: false) }
        timer.schedule(deadline: .now() + max(0, seconds))
        let waiting = state.withLock { state -> Bool in
            guard case .idle = state else { return false }
            state = .waiting(continuation, Timer(source: timer))
            return true
        }
        if !waiting {
            // Cancelled before it began. A source is never released inactive (libdispatch stops the process).
            timer.cancel()
            timer.activate()
            continuation.resume(throwing: CancellationError())
            return
        }
        timer.activate()
    }

    private func end(cancelled: Bool) {
        let taken = state.withLock { state -> (CheckedContinuation<Void, any Error>, Timer)? in
            switch state {
            case .idle:
                if cancelled { state = .cancelled }
                return nil
            case .waiting(let continuation, let timer):
                state = .ended
                return (continuation, timer)
            case .cancelled, .ended:
                return nil
            }
        }
        guard let (continuation, timer) = taken else { return }
        // Cancelling drops the timer and its handler (which holds this object) now, not at the deadline.
        timer.source.cancel()
        if cancelled { continuation.resume(throwing: CancellationError()) } else { continuation.resume() }
    }
}
