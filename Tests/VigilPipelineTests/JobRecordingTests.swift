import Foundation
import Synchronization
import Testing
import VigilPipeline
import VigilStore

/// A new job's record is written beside its first reads and datums (`JobRecording`): nothing the job made is
/// published before the record is there, and a job whose record could not be written publishes nothing.
@Suite("A job's record written beside its start")
struct JobRecordingTests {
    /// Two frames and a pipeline `frames` reading them, on an engine whose job store calls `beforeStartJob`
    /// (with the store underneath) before each job's record is written. Returns the fixture and that store.
    func framesPipeline(
        beforeStartJob: @escaping @Sendable (any JobStore, JobInfo) async throws -> Void
    ) async throws -> (EngineFixture, any JobStore) {
        var fixture = try await EngineFixture(stages: .with("record", RecordingStage()))
        let base = fixture.environment.jobs
        fixture.environment.jobs = InterceptingJobStore(base, beforeStartJob: { try await beforeStartJob(base, $0) })
        let frames = ["/cam1-1700000000.jpg": "a", "/cam1-1700000001.jpg": "b"]
        let spec = "{name: frames, input: {pfs: {repo: images, glob: '/*'}}, transform: {stage: record}}"
        do {
            try await fixture.store.createRepo("images")
            try await commit(frames, to: "images", in: fixture.store)
            try await fixture.create(spec)
        } catch {
            fixture.cleanUp()
            throw error
        }
        return (fixture, base)
    }

    /// Another engine (on another host) starts its job of the pipeline between this engine's look at the
    /// running jobs and its own record's write. This engine's job is then not recorded and makes no commit;
    /// once the other engine is gone, its job is taken over and made.
    @Test func aRivalEngineStartingFirstLeavesThisEnginesWorkUnpublished() async throws {
        let rival = Mutex<JobInfo?>(nil)
        let (fixture, base) = try await framesPipeline { base, job in
            guard rival.withLock({ $0 == nil }) else { return }
            var other = job
            other.id = String(repeating: "e", count: 32)
            other.holder = "elsewhere:1:rival"
            other.heartbeat = Date()
            rival.withLock { $0 = other }
            _ = try await base.startJob(other, isAlive: { _ in true })
        }
        defer { fixture.cleanUp() }

        let ran = try await fixture.engine.runUntilIdle()
        let other = try #require(rival.withLock { $0 })
        #expect(ran.isEmpty, "the rival's job is running: this engine has nothing of its own to show")
        #expect(try await fixture.store.resolveCommit("frames", ref: nil) == nil, "nothing was published")
        #expect(try await fixture.store.metadata.leases().isEmpty, "the output commit opened beside it is abandoned")
        #expect(try await base.jobs(pipeline: "frames", limit: 10).map(\.id) == [other.id], "only the rival's job")

        // The rival dies (its heartbeat stops): its job is taken over and made.
        var dead = other
        dead.heartbeat = Date(timeIntervalSinceNow: -3_600)
        try await base.updateJob(dead)
        let next = try await fixture.engine.runUntilIdle()
        #expect(next.map(\.id) == [other.id])
        #expect(next.first?.state == .finished)
        let files = try await fixture.files("frames")
        #expect(files.keys.sorted() == ["/cam1-1700000000.jpg.out", "/cam1-1700000001.jpg.out"])
    }

    /// The record's write fails (the database unreachable): the job publishes nothing and leaves no lease and
    /// no record; the next step runs it in full.
    @Test func aJobWhoseRecordCannotBeWrittenPublishesNothing() async throws {
        let failures = Atomic<Int>(1)
        let (fixture, base) = try await framesPipeline { _, _ in
            guard failures.subtract(1, ordering: .relaxed).oldValue > 0 else { return }
            throw PipelineError(.io, "the job database is unreachable")
        }
        defer { fixture.cleanUp() }

        let failure = await #expect(throws: PipelineError.self) { try await fixture.engine.runUntilIdle() }
        #expect(failure?.message.contains("unreachable") == true, "\(String(describing: failure))")
        #expect(try await fixture.store.resolveCommit("frames", ref: nil) == nil, "nothing was published")
        #expect(try await fixture.store.metadata.leases().isEmpty)
        #expect(try await base.jobs(pipeline: "frames", limit: 10).isEmpty, "no record was written")

        let next = try await fixture.engine.runUntilIdle()
        #expect(next.count == 1)
        #expect(next.first?.state == .finished)
        #expect(next.first?.counts.processed == 2)
        #expect(try await fixture.files("frames").count == 2)
    }
}
