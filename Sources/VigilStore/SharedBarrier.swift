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

    /// Runs barriers while callers wait for one, each for the callers that were waiting when it started.
    private func drain() {
        while true {
            let batch = state.withLock { state in
                let batch = state.waiting
                state.waiting.removeAll()
                if batch.isEmpty { state.running = false }
                return batch
            }
            if batch.isEmpty { return }
            let result = Result { try barrier() }
            for caller in batch { caller.resume(with: result) }
        }
    }
}
