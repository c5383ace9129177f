internal import CVigilImage
import Foundation
import Synchronization

/// One long-lived thread that runs submitted work in order. A detector runs all its inferences here: always
/// on the same thread (the runtime's per-thread buffers stay warm; a dispatch queue moves work between pool
/// threads), and never on one of the few threads that async code shares.
public final class WorkerThread: Sendable {
    /// What the thread and its submitters share (the thread holds this, not the `WorkerThread`, so dropping
    /// the last `WorkerThread` stops it).
    private final class Queue: Sendable {
        struct State {
            var jobs: [@Sendable () -> Void] = []
            var stopped = false
        }

        let state = Mutex(State())
        let signal = DispatchSemaphore(value: 0)
    }

    private let queue = Queue()

    /// `niceness` above 0 makes the thread yield the cores to normal threads (Linux's nice is per thread):
    /// for work that should fill the gaps that latency-critical work leaves, not slow it down.
    public init(name: String, niceness: Int32 = 0) {
        let thread = Thread { [queue] in
            // Foundation's `Thread.name` does not reach the system's name for the thread; `top -H` shows this.
            vigil_thread_set_name(name)
            #if os(Linux)
                // `who` 0 is the calling thread; lowering one's own priority needs no privilege.
                if niceness > 0 { _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness) }
            #endif
            while true {
                queue.signal.wait()
                let job: (@Sendable () -> Void)? = queue.state.withLock { state in
                    state.jobs.isEmpty ? nil : state.jobs.removeFirst()
                }
                guard let job else {
                    if queue.state.withLock({ $0.stopped }) { return }
                    continue
                }
                job()
            }
        }
        thread.name = name
        thread.start()
    }

    deinit {
        queue.state.withLock { $0.stopped = true }
        queue.signal.signal()
    }

    /// Runs `body` on the thread and returns its result.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            submit { continuation.resume(with: Result { try body() }) }
        }
    }

    /// Queues `body` to run on the thread after the work already queued, without waiting for it: for work
    /// that hands its result over some other way. Work queued before the last reference goes still runs.
    public func submit(_ body: @escaping @Sendable () -> Void) {
        queue.state.withLock { $0.jobs.append(body) }
        queue.signal.signal()
    }
}
