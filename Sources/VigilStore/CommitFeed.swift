import Synchronization

/// Tells subscribers in this process about every commit finished through this store, the moment its head
/// moves: what lets a pipeline start on new data at once instead of polling. Commits made by other processes
/// on the same data are not seen here; a watcher on the metadata database covers those (see `VigilPipeline`).
public final class CommitFeed: Sendable {
    private struct State {
        var nextID = 0
        var subscribers: [Int: AsyncStream<CommitInfo>.Continuation] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// A stream of the commits finished from now on. It keeps the newest 4,096 undelivered commits (a consumer
    /// that falls further behind re-reads branch heads anyway) and ends when the consumer stops iterating.
    public func subscribe() -> AsyncStream<CommitInfo> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: CommitInfo.self, bufferingPolicy: .bufferingNewest(4096))
        let id = state.withLock { state in
            defer { state.nextID += 1 }
            state.subscribers[state.nextID] = continuation
            return state.nextID
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    func publish(_ commit: CommitInfo) {
        let subscribers = state.withLock { Array($0.subscribers.values) }
        for subscriber in subscribers { subscriber.yield(commit) }
    }
}
