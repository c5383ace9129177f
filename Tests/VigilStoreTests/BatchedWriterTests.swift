import Foundation
import Synchronization
import Testing

@testable import VigilStore

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
        final class Run: Sendable {
            let failing = Mutex(true)
            let started = Mutex(0)
            /// How many items wait behind the running write; set once the writer exists.
            let queued = Mutex<(@Sendable () -> Int)?>(nil)
        }
        let run = Run()
        let writer = BatchedWriter<Int> { _ in
            let first = run.started.withLock {
                $0 += 1
                return $0 == 1
            }
            // The first write waits for the other five to be queued behind it.
            if first, let count = run.queued.withLock({ $0 }) {
                while count() < 5 { try await Task.sleep(for: .milliseconds(1)) }
            }
            if run.failing.withLock({ $0 }) { throw DiskGone() }
        }
        run.queued.withLock { $0 = { [weak writer] in writer?.waitingCount ?? 0 } }
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for item in 0..<6 {
                group.addTask {
                    // The first write runs alone; the other five, sent once it has started, join the second,
                    // which fails too.
                    if item > 0 {
                        while run.started.withLock({ $0 }) == 0 { try? await Task.sleep(for: .milliseconds(1)) }
                    }
                    return (try? await writer.submit(item)) != nil
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(outcomes.allSatisfy { !$0 }, "every caller of a failed write is told")
        #expect(run.started.withLock { $0 } == 2)
        run.failing.withLock { $0 = false }
        try await writer.submit(7)
    }
}
