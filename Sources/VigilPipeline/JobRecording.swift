import Synchronization

/// A new job's record, written beside the job's first reads and datums instead of before them: the write is
/// a database round trip on the way from an input's commit to the next stage's datum. What needs the record
/// (the job's other writes, its output commit) waits for it here. The record's write is also where two
/// engines stepping the same pipeline at once find each other: the one that lost learns it here, as
/// `JobRecording.Superseded`, and leaves what it did so far unpublished.
final class JobRecording: Sendable {
    /// Another engine's job of the pipeline was running when this one's record was to be written.
    struct Superseded: Error {
        let existing: JobInfo
    }

    private enum State {
        case writing([CheckedContinuation<Void, any Error>])
        case written(Result<Void, any Error>)
    }

    private let state = Mutex(State.writing([]))
    private let begun = Atomic<Bool>(false)
    /// Writes the record (`JobStore.startJob`: nil when written, the running job otherwise).
    private let start: @Sendable () async throws -> JobInfo?

    init(_ start: @escaping @Sendable () async throws -> JobInfo?) {
        self.start = start
    }

    /// Writes the record and tells every waiter how it went; the second call returns at once (the job's
    /// failure before its runner began writes the record so that the failure can be recorded). Never throws:
    /// the outcome goes to the waiters.
    func write() async {
        guard !begun.exchange(true, ordering: .relaxed) else { return }
        let outcome: Result<Void, any Error>
        do {
            if let existing = try await start() {
                outcome = .failure(Superseded(existing: existing))
            } else {
                outcome = .success(())
            }
        } catch {
            outcome = .failure(error)
        }
        let waiters = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            guard case .writing(let waiters) = state else { return [] }
            state = .written(outcome)
            return waiters
        }
        for waiter in waiters { waiter.resume(with: outcome) }
    }

    /// Writes the record if nobody began to (the job failed before its runner did), then waits for it.
    func writeAndWait() async throws {
        await write()
        try await wait()
    }

    /// Returns once the record is written; throws `Superseded`, or the write's error, when it was not.
    func wait() async throws {
        try await withCheckedThrowingContinuation { continuation in
            let outcome = state.withLock { state -> Result<Void, any Error>? in
                switch state {
                case .writing(var waiters):
                    waiters.append(continuation)
                    state = .writing(waiters)
                    return nil
                case .written(let outcome):
                    return outcome
                }
            }
            if let outcome { continuation.resume(with: outcome) }
        }
    }
}
