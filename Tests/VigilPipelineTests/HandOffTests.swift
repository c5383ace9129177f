import Foundation
import Testing
import VigilPipeline
import VigilStore

/// A quick stage (`Stage.joinsUpstreamCommit`) whose jobs run inside the job that made their input.
final class JoiningStage: Stage, Sendable {
    let recording: RecordingStage

    init(alwaysFail: Set<String> = []) {
        recording = RecordingStage(alwaysFail: alwaysFail)
    }

    var joinsUpstreamCommit: Bool { true }

    func process(_ datum: DatumContext) async throws {
        try await recording.process(datum)
    }
}

@Suite("A job handed its upstream's commit")
struct HandOffTests {
    /// `one` copies `images`; `two` (a joining stage) reads `one`.
    private func fixture(_ stage: JoiningStage, handsOff: Bool = true) async throws -> EngineFixture {
        var fixture = try await EngineFixture(stages: .with("join", stage))
        fixture.environment.handsOff = handsOff
        try await fixture.store.createRepo("images")
        try await fixture.createCopyChain(["one"])
        try await fixture.create("{name: two, input: {pfs: {repo: one, glob: '/*'}}, transform: {stage: join}}")
        return fixture
    }

    /// Commits one file at a time to `images` with the engine running, waiting each time for `two`'s commit on
    /// it (or, for the files in `failing`, `two`'s finished job).
    private func run(
        _ fixture: EngineFixture, files: Int, failing: Set<Int> = []
    ) async throws {
        let engine = fixture.engine
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await engine.run() }
            for index in 0..<files {
                let feed = fixture.store.commits.subscribe()
                let input = try await commit(["/f\(index)": "\(index)"], to: "images", in: fixture.store)
                if failing.contains(index) {
                    let deadline = ContinuousClock.now + .seconds(20)
                    while ContinuousClock.now < deadline {
                        let last = try await fixture.environment.jobs.jobs(pipeline: "two", limit: 1).first
                        if let last, last.state.isDone, last.inputs.contains(where: { $0.repo == "one" }),
                            try await fixture.store.provenance(
                                of: CommitReference(repo: "one", commit: last.inputCommits["one"] ?? ""),
                                transitive: true
                            ).contains(input.reference)
                        {
                            break
                        }
                        try await Task.sleep(for: .milliseconds(5))
                    }
                    continue
                }
                var output: CommitInfo?
                for await made in feed where made.repo == "two" {
                    let upstream = try await fixture.store.provenance(of: made.reference, transitive: true)
                    if upstream.contains(input.reference) {
                        output = made
                        break
                    }
                }
                // And its job's record (written after the commit), so that the next file's job finds none running.
                let deadline = ContinuousClock.now + .seconds(20)
                while ContinuousClock.now < deadline,
                    try await fixture.environment.jobs.jobs(pipeline: "two", limit: 1).first?.output != output?.id
                {
                    try await Task.sleep(for: .milliseconds(2))
                }
            }
            engine.stopGracefully()
            try await group.waitForAll()
        }
    }

    @Test func aQuickDownstreamJobRunsInsideItsUpstreamsAndLandsWithIt() async throws {
        let stage = JoiningStage()
        let fixture = try await fixture(stage)
        defer { fixture.cleanUp() }
        try await run(fixture, files: 4)

        #expect(try await fixture.files("two").keys.sorted() == ["/f0.out", "/f1.out", "/f2.out", "/f3.out"])
        #expect(stage.recording.totalRuns == 4)
        let ones = try await fixture.store.log("one").reversed()
        let twos = try await fixture.store.log("two").reversed()
        #expect(ones.count == 4 && twos.count == 4)
        for (index, (one, two)) in zip(ones, twos).enumerated() {
            #expect(two.provenance.inputs == [one.reference])
            // The first commit of `one` has no parent that `two` processed: `two`'s own step runs on it. Every
            // later one is published in one transaction with `two`'s, stamped with the same time.
            #expect((two.finished == one.finished) == (index > 0), "commit \(index)")
        }
        // Each job recorded once, ended, with its datum.
        let jobs = try await fixture.environment.jobs.jobs(pipeline: "two", limit: 10)
        #expect(jobs.count == 4)
        for job in jobs {
            #expect(job.state == .finished && job.counts.processed == 1, "\(job)")
            #expect(twos.contains { $0.id == job.output })
            #expect(try await fixture.environment.jobs.datums(job: job.id, state: .success, limit: 10).count == 1)
        }
    }

    @Test func withoutTheHandOffEachCommitLandsOnItsOwn() async throws {
        let stage = JoiningStage()
        let fixture = try await fixture(stage, handsOff: false)
        defer { fixture.cleanUp() }
        try await run(fixture, files: 3)
        let ones = try await fixture.store.log("one")
        let twos = try await fixture.store.log("two")
        #expect(twos.count == 3)
        #expect(zip(ones, twos).allSatisfy { $0.finished < $1.finished })
    }

    /// A datum that fails inside the upstream's job publishes nothing of the downstream's: the upstream's
    /// commit lands alone, and the downstream's own step runs the job and records the failure as usual.
    @Test func aDownstreamDatumThatFailsLeavesTheJobToItsOwnStep() async throws {
        let stage = JoiningStage(alwaysFail: ["/f1"])
        let fixture = try await fixture(stage)
        defer { fixture.cleanUp() }
        try await run(fixture, files: 3, failing: [1])

        let jobs = try await fixture.environment.jobs.jobs(pipeline: "two", limit: 10)
        let failed = jobs.filter { $0.state == .finishedWithFailures }
        #expect(failed.count == 1, "\(jobs.map(\.state))")
        let failure = try #require(failed.first)
        #expect(failure.counts.failed == 1)
        #expect(
            try await fixture.environment.jobs.datums(job: failure.id, state: .failed, limit: 10).first?.error?
                .contains("refusing /f1") == true)
        // Tried inside `one`'s job, then by `two`'s own step (a datum is tried `datumTries` times each time).
        #expect(stage.recording.runs.withLock { $0["/f1"] ?? 0 } >= 2)
        let one = try #require(try await fixture.store.commit(id: failure.inputCommits["one"] ?? ""))
        let two = try #require(try await fixture.store.commit(id: failure.output ?? ""))
        #expect(two.finished > one.finished)
        // The file after it is handed off again.
        #expect(try await fixture.files("two").keys.sorted() == ["/f0.out", "/f2.out"])
        let last = try #require(try await fixture.store.resolveCommit("two", ref: nil))
        let lastOne = try #require(try await fixture.store.resolveCommit("one", ref: nil))
        #expect(last.finished == lastOne.finished)
    }

    /// A downstream whose spec changed since its last job rebuilds in its own step: the hand-off runs only the
    /// job that step would run on the one new commit.
    @Test func aChangedSpecIsLeftToTheDownstreamsOwnStep() async throws {
        let stage = JoiningStage()
        let fixture = try await fixture(stage)
        defer { fixture.cleanUp() }
        try await run(fixture, files: 2)
        // A new transform (an option the stage ignores here) makes a new spec hash.
        let yaml = "{name: two, input: {pfs: {repo: one, glob: '/*'}}, transform: {stage: join, options: {v: '2'}}}"
        try await fixture.manager.update(try PipelineSpecParser.parse(yaml), source: yaml)
        try await commit(["/f2": "2"], to: "images", in: fixture.store)
        try await fixture.engine.runUntilIdle()

        let newest = try #require(try await fixture.environment.jobs.jobs(pipeline: "two", limit: 1).first)
        #expect(newest.full && newest.counts.processed == 3, "\(newest)")
        let two = try #require(try await fixture.store.resolveCommit("two", ref: nil))
        let one = try #require(try await fixture.store.resolveCommit("one", ref: nil))
        #expect(two.finished > one.finished)
        #expect(try await fixture.files("two").count == 3)
    }
}
