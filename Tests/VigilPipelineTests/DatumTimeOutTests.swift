import Foundation
import Synchronization
import Testing
import VigilPipeline

/// A datum's `datumTimeout` holds for both kinds of stage: one that ends when cancelled is cancelled at the
/// time-out; one that would run to its end anyway is timed once it returns (no timer task beside it), and its
/// datum fails the same way.
@Suite("Datum time-outs")
struct DatumTimeOutTests {
    /// Sleeps `milliseconds` and says whether it was cancelled on the way.
    final class Sleeper: Stage, Sendable {
        let milliseconds: Int
        let endsWhenCancelled: Bool
        let ended = Mutex<[Bool]>([])

        init(milliseconds: Int, endsWhenCancelled: Bool) {
            self.milliseconds = milliseconds
            self.endsWhenCancelled = endsWhenCancelled
        }

        func process(_ datum: DatumContext) async throws {
            let cancelled: Bool
            do {
                try await Task.sleep(for: .milliseconds(milliseconds))
                cancelled = false
            } catch {
                cancelled = true
            }
            ended.withLock { $0.append(cancelled) }
            for input in datum.datum.inputs {
                for file in try await datum.files(of: input) { try datum.link(file.path, to: file.entry.value) }
            }
        }
    }

    /// Runs one datum through `stage` under `timeout`; the job's datum record and the time the job took.
    func run(_ stage: Sleeper, timeout: String) async throws -> (DatumRecord, Duration) {
        let fixture = try await EngineFixture(stages: .with("sleeper", stage))
        defer { fixture.cleanUp() }
        try await fixture.store.createRepo("images")
        try await commit(["/a": "a"], to: "images", in: fixture.store)
        try await fixture.create(
            "{name: slow, input: {pfs: {repo: images, glob: '/*'}}, transform: {stage: sleeper}, "
                + "datumTries: 1, datumTimeout: \(timeout)}")
        let started = ContinuousClock.now
        let job = try #require(try await fixture.engine.runUntilIdle().first)
        let took = ContinuousClock.now - started
        let record = try #require(try await fixture.environment.jobs.datums(job: job.id, state: nil, limit: 5).first)
        return (record, took)
    }

    @Test func aStageThatRunsToItsEndFailsItsDatumOncePastTheTimeOut() async throws {
        let stage = Sleeper(milliseconds: 600, endsWhenCancelled: false)
        let (record, took) = try await run(stage, timeout: "150ms")
        #expect(record.state == .failed)
        #expect(record.error?.contains("datumTimeout of 0.15 s") == true, "\(record.error ?? "")")
        // Not cancelled: it ran its whole 600 ms, and only then did the datum fail.
        #expect(stage.ended.withLock { $0 } == [false])
        #expect(took >= .milliseconds(600))
    }

    @Test func aStageThatEndsWhenCancelledIsCancelledAtTheTimeOut() async throws {
        let stage = Sleeper(milliseconds: 60_000, endsWhenCancelled: true)
        let (record, took) = try await run(stage, timeout: "150ms")
        #expect(record.state == .failed)
        #expect(record.error?.contains("datumTimeout of 0.15 s") == true, "\(record.error ?? "")")
        #expect(stage.ended.withLock { $0 } == [true])
        // Well short of the minute it would have slept (a loaded machine can take seconds over the 150 ms).
        #expect(took < .seconds(30))
    }

    @Test func aStageThatRunsToItsEndWithinTheTimeOutSucceeds() async throws {
        let stage = Sleeper(milliseconds: 20, endsWhenCancelled: false)
        let (record, _) = try await run(stage, timeout: "5s")
        #expect(record.state == .success)
        #expect(stage.ended.withLock { $0 } == [false])
    }
}
