import Foundation
import Synchronization
import Testing

@testable import VigilStore

@Suite("Shared barrier")
struct SharedBarrierTests {
    /// Counts writes and barriers, and remembers for each finished barrier the writes made before it started.
    final class Log: Sendable {
        let state = Mutex<(barriers: Int, written: Int, finishedCovering: [Int])>((0, 0, []))
    }

    @Test func callersWaitingTogetherShareOneBarrierEachStartedAfterTheirWrites() async throws {
        let log = Log()
        let barrier = SharedBarrier(label: "test-barrier") {
            // What this barrier covers: every write made before it started.
            let covers = log.state.withLock { state -> Int in
                state.barriers += 1
                return state.written
            }
            Thread.sleep(forTimeInterval: 0.05)
            log.state.withLock { $0.finishedCovering.append(covers) }
        }
        let callers = 40
        let covered = try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            for index in 0..<callers {
                group.addTask {
                    // Arrivals spread over four barriers' time, so that many come while one runs.
                    try await Task.sleep(for: .milliseconds(5 * index))
                    // A write, then a wait for a barrier that must come after it.
                    let mine = log.state.withLock { state -> Int in
                        state.written += 1
                        return state.written
                    }
                    try await barrier.wait()
                    // Released only once a barrier that started after the write has finished.
                    return (mine, log.state.withLock { $0.finishedCovering.max() ?? 0 })
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        for (write, coveredUpTo) in covered {
            #expect(coveredUpTo >= write, "write \(write) was released before a barrier covering it had finished")
        }
        // 40 callers over a 50 ms barrier: a few barriers, not one each.
        let barriers = log.state.withLock { $0.barriers }
        #expect(barriers >= 1 && barriers < callers / 2, "\(barriers) barriers for \(callers) callers")
    }

    @Test func aFailedBarrierFailsEveryCallerWaitingForItAndTheNextOneRunsAfresh() async throws {
        let failing = Mutex(true)
        struct DiskGone: Error {}
        let barrier = SharedBarrier(label: "test-barrier") {
            if failing.withLock({ $0 }) { throw DiskGone() }
        }
        await #expect(throws: DiskGone.self) { try await barrier.wait() }
        failing.withLock { $0 = false }
        try await barrier.wait()
    }

    @Test func aBarrierAskedForWhenQuietRunsOnlyOnceWritingHasPaused() async throws {
        let runs = Mutex(0)
        // Progress that moves at each of the first five looks (writing goes on), then stays (writing paused).
        let looks = Mutex(0)
        let progress: @Sendable () -> UInt64 = {
            looks.withLock { looks in
                looks += 1
                return UInt64(min(looks, 6))
            }
        }
        let barrier = SharedBarrier(label: "test-barrier") {
            runs.withLock { $0 += 1 }
            // Not before writing paused: the look that found no progress came first.
            #expect(looks.withLock { $0 } >= 7)
        }
        barrier.startWhenQuiet(after: 0.005, progress: progress)
        // Asking again while a look is pending schedules nothing more.
        barrier.startWhenQuiet(after: 0.005, progress: progress)
        let deadline = ContinuousClock.now + .seconds(10)
        while runs.withLock({ $0 }) == 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(runs.withLock { $0 } == 1)
        #expect(looks.withLock { $0 } == 7)
        // A caller afterwards still gets a barrier of its own.
        try await barrier.wait()
        #expect(runs.withLock { $0 } == 2)
    }
}
