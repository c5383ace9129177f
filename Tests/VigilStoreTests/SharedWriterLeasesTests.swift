import Foundation
import Testing

@testable import VigilStore

/// Which lease a new writer holds, and when a lease is released (`SharedWriterLeases`).
@Suite("Shared writer leases")
struct SharedWriterLeasesTests {
    let start = Date(timeIntervalSince1970: 1_800_000_000)

    func lease(_ id: String, at offset: TimeInterval = 0) -> WriterLease {
        WriterLease(
            id: id, holder: "test", started: start.addingTimeInterval(offset),
            heartbeat: start.addingTimeInterval(offset))
    }

    @Test func withoutAKeeperEveryWriterHasItsOwn() {
        let leases = SharedWriterLeases()
        #expect(leases.adopt(lease("a")) == nil)
        #expect(leases.join(now: start) == nil)
        #expect(!leases.isShared("a"), "released with its commit, as before")
    }

    @Test func writersJoinAYoungLeaseOnly() {
        let leases = SharedWriterLeases(reuseWindow: 10, idleKeep: 1)
        leases.enable()
        #expect(leases.adopt(lease("a")) == nil)
        #expect(leases.join(now: start.addingTimeInterval(9))?.id == "a")
        #expect(leases.join(now: start.addingTimeInterval(10)) == nil, "too old to protect a new writer for long")
        #expect(leases.join(now: start.addingTimeInterval(-1)) == nil, "a lease from the future protects nothing")
        #expect(leases.joins == 1)
        #expect(leases.isShared("a"))
    }

    @Test func theNewestLeaseIsReleasedAfterAnIdleMoment() {
        let leases = SharedWriterLeases(reuseWindow: 10, idleKeep: 1)
        leases.enable()
        _ = leases.adopt(lease("a"))
        _ = leases.join(now: start.addingTimeInterval(0.1))
        #expect(!leases.leave("a", now: start.addingTimeInterval(0.2)))
        #expect(!leases.leave("a", now: start.addingTimeInterval(0.3)), "the newest lease waits for the next writer")
        #expect(leases.sweep(now: start.addingTimeInterval(1.2)).isEmpty, "idle for less than a second")
        #expect(leases.join(now: start.addingTimeInterval(1.25))?.id == "a", "a writer within the moment joins it")
        #expect(!leases.leave("a", now: start.addingTimeInterval(1.3)))
        #expect(leases.sweep(now: start.addingTimeInterval(2.3)) == ["a"])
        #expect(leases.join(now: start.addingTimeInterval(2.4)) == nil, "released: the next writer takes a new one")
        #expect(!leases.isShared("a"))
    }

    @Test func aReplacedLeaseGoesWithItsLastWriter() {
        let leases = SharedWriterLeases(reuseWindow: 10, idleKeep: 1)
        leases.enable()
        _ = leases.adopt(lease("a"))
        _ = leases.join(now: start.addingTimeInterval(1))
        // Past the window a writer takes a new lease; "a" still has two writers.
        #expect(leases.adopt(lease("b", at: 11)) == nil)
        #expect(leases.join(now: start.addingTimeInterval(12))?.id == "b")
        #expect(!leases.leave("a", now: start.addingTimeInterval(13)))
        #expect(leases.leave("a", now: start.addingTimeInterval(14)), "its last writer releases it")
        // "b" idle when "c" replaces it: released at once.
        #expect(!leases.leave("b", now: start.addingTimeInterval(15)))
        #expect(!leases.leave("b", now: start.addingTimeInterval(15)))
        #expect(leases.adopt(lease("c", at: 22)) == "b")
    }

    @Test func aLeaseWhoseReleaseFailedIsTriedAgainByTheNextSweep() {
        let leases = SharedWriterLeases(reuseWindow: 10, idleKeep: 1)
        leases.enable()
        leases.releaseFailed("a")
        #expect(leases.sweep(now: start) == ["a"])
        #expect(leases.sweep(now: start).isEmpty, "handed out once")
        leases.releaseFailed("b")
        #expect(leases.disable() == ["b"], "the last try is the keeper's stop")
        leases.releaseFailed("c")
        #expect(leases.sweep(now: start).isEmpty, "with no keeper it expires like a killed process's")
    }

    @Test func stoppingReleasesIdleLeasesAndLeavesHeldOnesToTheirWriters() {
        let leases = SharedWriterLeases(reuseWindow: 10, idleKeep: 1)
        leases.enable()
        _ = leases.adopt(lease("a"))
        #expect(leases.disable().isEmpty, "a writer still holds it")
        #expect(leases.join(now: start) == nil)
        #expect(leases.leave("a", now: start.addingTimeInterval(1)), "released by its last writer")

        leases.enable()
        _ = leases.adopt(lease("b"))
        _ = leases.leave("b", now: start)
        #expect(leases.disable() == ["b"])
    }
}
