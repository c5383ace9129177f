import Foundation

/// Runs `body`, which blocks (waits for a process, reads a pipe to its end), on a thread of its own and awaits
/// it. Swift's cooperative pool has one thread per core; a test that blocks one of them on a 2-core machine
/// stalls every other test running beside it.
public func blockingWork<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}
