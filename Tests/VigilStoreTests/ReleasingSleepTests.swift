import Foundation
import Testing

@testable import VigilStore

/// The time-outs' sleep: it returns after its time, throws as soon as its task is cancelled, and a cancelled one
/// lets go of its timer at once (a cancelled `Task.sleep` holds its memory until the deadline).
@Suite("Releasing sleep")
struct ReleasingSleepTests {
    /// Sees whether a sleeper is still alive.
    final class Watch: @unchecked Sendable {
        weak var sleeper: ReleasingSleep?
    }

    @Test func itReturnsAfterItsTime() async throws {
        let started = ContinuousClock.now
        try await ReleasingSleep.sleep(for: .milliseconds(50))
        #expect(ContinuousClock.now - started >= .milliseconds(50))
    }

    @Test func aCancelledSleepThrowsAtOnceAndFreesItsTimer() async throws {
        let watch = Watch()
        let started = ContinuousClock.now
        do {
            let sleeper = ReleasingSleep()
            watch.sleeper = sleeper
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await sleeper.wait(for: .seconds(600)) }
                try await Task.sleep(for: .milliseconds(50))
                group.cancelAll()
                await #expect(throws: CancellationError.self) { try await group.next() }
            }
        }
        #expect(ContinuousClock.now - started < .seconds(60))
        // Nothing holds it once cancelled: its timer's handler refers to it, and its state held the timer.
        let deadline = ContinuousClock.now + .seconds(10)
        while watch.sleeper != nil, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(watch.sleeper == nil)
    }

    @Test func aSleepInACancelledTaskThrowsWithoutWaiting() async throws {
        let started = ContinuousClock.now
        await withThrowingTaskGroup(of: Void.self) { group in
            group.cancelAll()
            group.addTask { try await ReleasingSleep.sleep(for: .seconds(600)) }
            await #expect(throws: CancellationError.self) { try await group.next() }
        }
        #expect(ContinuousClock.now - started < .seconds(60))
    }

    /// Resident memory, in bytes.
    static func residentBytes() -> Int {
        let fields = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8))?.split(separator: " ") ?? []
        return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
    }

    /// How much resident memory grows over `count` ten-minute sleeps, each raced against nothing and cancelled
    /// at once, as a datum's time-out is.
    static func growth(overCancelled count: Int, _ sleep: @escaping @Sendable () async throws -> Void) async -> Int {
        let before = residentBytes()
        for _ in 0..<count {
            try? await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {}
                group.addTask { try await sleep() }
                defer { group.cancelAll() }
                try await group.next()
            }
        }
        return residentBytes() - before
    }

    /// 30,000 cancelled sleeps: here about 5 MB (the task groups' own churn), where `Task.sleep` keeps 24 MB. In a
    /// process of its own, so that other tests' memory does not count.
    @Test func cancelledSleepsKeepNoMemoryUntilTheirDeadline() async {
        await #expect(processExitsWith: .success) {
            let grown = await ReleasingSleepTests.growth(overCancelled: 30_000) {
                try await ReleasingSleep.sleep(for: .seconds(600))
            }
            if grown > 12 << 20 { exit(1) }
        }
    }

    /// What the test above would catch, and why this sleep exists: a cancelled `Task.sleep` keeps its memory until
    /// its deadline (swiftlang/swift#60441). Should this fail, the runtime frees it now and `ReleasingSleep` can go.
    @Test func cancelledTaskSleepsKeepTheirMemoryUntilTheirDeadline() async {
        await #expect(processExitsWith: .success) {
            let grown = await ReleasingSleepTests.growth(overCancelled: 30_000) {
                try await Task.sleep(for: .seconds(600))
            }
            if grown < 16 << 20 { exit(1) }
        }
    }
}
