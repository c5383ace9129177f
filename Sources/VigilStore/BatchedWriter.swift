import Synchronization

/// Items written by many callers at once (audit entries, one per request) become shared writes: while one write
/// runs, the items that arrive wait and go together in the next, so a durable write's wait for the disk is paid
/// once per batch instead of once per item. Each caller returns only once the write holding its item has ended,
/// and gets that write's error. A lone caller waits for nobody: its write starts at once.
///
/// The caller whose item starts a write runs it on its own task; when it ends, the first waiting caller takes
/// over with everything waiting then, so no caller keeps writing other callers' items after its own is done.
public final class BatchedWriter<Item: Sendable>: Sendable {
    private struct State {
        var writing = false
        var waiting: [(item: Item, caller: CheckedContinuation<Bool, any Error>)] = []
    }

    private let state = Mutex(State())
    private let write: @Sendable ([Item]) async throws -> Void

    /// `write` stores a batch (one transaction); it is never called with an empty batch, nor twice at once.
    public init(_ write: @escaping @Sendable ([Item]) async throws -> Void) {
        self.write = write
    }

    /// The items waiting for the next write (for tests that need a batch to have formed).
    var waitingCount: Int { state.withLock { $0.waiting.count } }

    /// Returns once a write holding `item` has ended; throws what that write threw.
    public func submit(_ item: Item) async throws {
        let leads = try await withCheckedThrowingContinuation { (caller: CheckedContinuation<Bool, any Error>) in
            let leadsNow = state.withLock { state in
                if state.writing {
                    state.waiting.append((item, caller))
                    return false
                }
                state.writing = true
                return true
            }
            if leadsNow { caller.resume(returning: true) }
        }
        guard leads else { return }
        try await lead(with: item)
    }

    /// Writes `item` and every item waiting, answers their callers, then hands the writing on.
    private func lead(with item: Item) async throws {
        let joined = state.withLock { state in
            let joined = state.waiting
            state.waiting.removeAll()
            return joined
        }
        let result: Result<Void, any Error>
        do {
            try await write([item] + joined.map(\.item))
            result = .success(())
        } catch {
            result = .failure(error)
        }
        for waiter in joined { waiter.caller.resume(with: result.map { false }) }
        let next = state.withLock { state -> (item: Item, caller: CheckedContinuation<Bool, any Error>)? in
            if state.waiting.isEmpty {
                state.writing = false
                return nil
            }
            return state.waiting.removeFirst()
        }
        if let next { next.caller.resume(returning: true) }
        try result.get()
    }
}
