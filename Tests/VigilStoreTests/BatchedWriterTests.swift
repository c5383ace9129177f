import Foundation
import Synchronization
import Testing
import VigilStore

@Suite("Batched writer")
struct BatchedWriterTests {
    /// The batches written, in order, and whether two writes ever overlapped.
    final class Log: Sendable {
        let state = Mutex<(batches: [[Int]], writing: Bool, overlapped: Bool)>(([], false, false))
    }

    @Test func callersArrivingDuringAWriteShareTheNextAndEachReturnsOnlyOnceItsItemIsWritten() async throws {
        let log = Log()
        let writer = BatchedWriter<Int> { items in
            log.state.withLock { state in
                if state.writing { state.overlapped = true }
                state.writing = true
            }
            try await Task.sleep(for: .milliseconds(20))
            log.state.withLock { state in
                state.writing = false
                state.batches.append(items)
            }
        }
        let callers = 60
        try await withThrowingTaskGroup(of: Void.self) { group in
            for item in 0..<callers {
                group.addTask {
                    // Arrivals spread over several writes' time, so that many come while one runs.
                    try await Task.sleep(for: .milliseconds(2 * item))
                    try await writer.submit(item)
                    let written = log.state.withLock { $0.batches.joined() }
                    #expect(written.contains(item), "item \(item) was answered before a write held it")
                }
            }
            try await group.waitForAll()
        }
        let (batches, _, overlapped) = log.state.withLock { $0 }
        #expect(!overlapped, "two writes ran at once")
        #expect(batches.allSatisfy { !$0.isEmpty })
        #expect(batches.joined().sorted() == Array(0..<callers), "every item written exactly once")
        // 60 callers over 120 ms of arrivals and 20 ms writes: a handful of writes, not one each.
        #expect(batches.count >= 2 && batches.count < callers / 3, "\(batches.count) writes for \(callers) items")
    }

    @Test func aLoneCallerIsWrittenAtOnceAlone() async throws {
        let log = Log()
        let writer = BatchedWriter<Int> { items in log.state.withLock { $0.batches.append(items) } }
        try await writer.submit(1)
        try await writer.submit(2)
        #expect(log.state.withLock { $0.batches } == [[1], [2]])
    }

    @Test func aFailedWriteFailsEveryCallerInItAndTheNextWriteRunsAfresh() async throws {
        struct DiskGone: Error {}
        let failing = Mutex(true)
        let started = Mutex(0)
        let writer = BatchedWriter<Int> { _ in
            started.withLock { $0 += 1 }
            try await Task.sleep(for: .milliseconds(30))
            if failing.withLock({ $0 }) { throw DiskGone() }
        }
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for item in 0..<6 {
                group.addTask {
                    // The first write runs alone; the other five join the second, which fails too.
                    if item > 0 { try? await Task.sleep(for: .milliseconds(10)) }
                    return (try? await writer.submit(item)) != nil
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.allSatisfy { !$0 }, "every caller of a failed write is told")
        #expect(started.withLock { $0 } == 2)
        failing.withLock { $0 = false }
        try await writer.submit(7)
    }
}
