import PostgresNIO
import Synchronization

extension PostgresConnection {
    /// Every row `query` returns. Every Vigil statement goes through here rather than postgres-nio's async
    /// `query`: a statement written to a connection that closed a moment before (which the pool may still hand
    /// out) is never answered in postgres-nio 1.33, and an `await` that never returns would also hold up the
    /// deadline's task group forever. Here the connection's close is a second way out, and nothing waits on
    /// the lost answer.
    @discardableResult
    public func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        let answer = start(query)
        let closed = closeFuture
        return try await withCheckedThrowingContinuation { continuation in
            let pending = Pending()
            let once: @Sendable (Result<[PostgresRow], any Error>) -> Void = { outcome in
                if pending.take() { continuation.resume(with: outcome) }
            }
            answer.whenComplete { once($0.map(\.rows)) }
            closed.whenComplete { _ in
                once(.failure(VigilError(.databaseUnavailable, "the connection to PostgreSQL closed mid-statement")))
            }
        }
    }

    /// The future-based `query` (a synchronous function picks that overload).
    private func start(_ query: PostgresQuery) -> EventLoopFuture<PostgresQueryResult> {
        self.query(query, logger: PostgresSchema.quiet)
    }
}

/// Whether a continuation still waits to be resumed: the first to `take()` it resumes it.
private final class Pending: Sendable {
    private let waiting = Atomic<Bool>(true)

    func take() -> Bool { waiting.exchange(false, ordering: .acquiringAndReleasing) }
}
