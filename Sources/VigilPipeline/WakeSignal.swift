import Synchronization
import VigilStore

/// A wake-up for one waiting task: `fire()` ends the current `wait`, or the next one if none is waiting, so a
/// wake-up that comes between two waits is not lost. Many fires before a wait count as one; a spurious wake
/// costs the waiter a look, never correctness.
final class WakeSignal: Sendable {
    private struct State {
        var pending = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    func fire() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.pending = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    /// Returns when fired, after `seconds` at the latest, or at once when the task is cancelled.
    func wait(upTo seconds: Double) async {
        if state.withLock({ state in
            defer { state.pending = false }
            return state.pending
        }) {
            return
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                // Cancelled (the wait ended first, as it mostly does; the sleep frees its timer then): no fire,
                // which would wake the next wait for nothing.
                if (try? await ReleasingSleep.sleep(for: .seconds(seconds))) != nil { self.fire() }
            }
            await withTaskCancellationHandler {
                await withCheckedContinuation { continuation in
                    let ready = state.withLock { state -> Bool in
                        if state.pending {
                            state.pending = false
                            return true
                        }
                        state.waiter = continuation
                        return false
                    }
                    if ready { continuation.resume() }
                }
            } onCancel: {
                self.fire()
            }
            group.cancelAll()
        }
    }
}
