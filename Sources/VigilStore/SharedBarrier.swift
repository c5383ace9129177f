import Dispatch
import Synchronization

/// A durability barrier (a `syncfs`) run on a queue of its own and shared by the callers that wait together.
/// A caller needs a barrier that started after its writes: one that arrives while a barrier runs waits for the
/// next, which starts as soon as the running one ends and answers every caller that arrived meanwhile. So
/// concurrent commits pay for one barrier between them, and the millisecond or more a barrier blocks is spent
/// off the few threads async code shares.
final class SharedBarrier: Sendable {
    private struct State {
        var running = false
        var waiting: [CheckedContinuation<Void, any Error>] = []
        /// A barrier nobody waits for was asked for (`startWhenQuiet`).
        var requested = false
        /// A quiet-time check is pending.
        var scheduled = false
    }

    private let state = Mutex(State())
    private let queue: DispatchQueue
    private let barrier: @Sendable () throws -> Void

    init(label: String, _ barrier: @escaping @Sendable () throws -> Void) {
        queue = DispatchQueue(label: label)
        self.barrier = barrier
    }

    /// Returns once a barrier that started after this call has ended; throws what that barrier threw.
    func wait() async throws {
        try await withCheckedThrowingContinuation { continuation in
            let start = state.withLock { state in
                state.waiting.append(continuation)
                defer { state.running = true }
                return !state.running
            }
            if start { queue.async { self.drain() } }
        }
    }

    /// Runs a barrier nobody waits for once `progress` has not moved for `quiet` seconds: so that what was
    /// written reaches the disk between bursts of work, not in the way of the next caller that needs a barrier,
    /// nor beside the work of the burst itself. Its error, if any, goes to nobody: the next caller's barrier
    /// answers for itself.
    func startWhenQuiet(after quiet: Double, progress: @escaping @Sendable () -> UInt64) {
        let schedule = state.withLock { state in
            defer { state.scheduled = true }
            return !state.scheduled
        }
        if schedule { check(after: quiet, seen: progress(), progress: progress) }
    }

    /// Starts a barrier nobody waits for now (or after the running one), without waiting for it.
    func start() {
        let start = state.withLock { state in
            state.requested = true
            defer { state.running = true }
            return !state.running
        }
        if start { queue.async { self.drain() } }
    }

    private func check(after quiet: Double, seen: UInt64, progress: @escaping @Sendable () -> UInt64) {
        queue.asyncAfter(deadline: .now() + quiet) {
            let now = progress()
            if now != seen { return self.check(after: quiet, seen: now, progress: progress) }
            self.state.withLock { $0.scheduled = false }
            self.start()
        }
    }

    /// Runs barriers while callers wait for one (or one was asked for), each for the callers that were waiting
    /// when it started.
    private func drain() {
        while true {
            let (batch, requested) = state.withLock { state in
                let batch = state.waiting
                state.waiting.removeAll()
                let requested = state.requested
                state.requested = false
                if batch.isEmpty && !requested { state.running = false }
                return (batch, requested)
            }
            if batch.isEmpty && !requested { return }
            let result = Result { try barrier() }
            for caller in batch { caller.resume(with: result) }
        }
    }
}
