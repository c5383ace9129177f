import Foundation
import Synchronization
import Testing
import VigilPipeline
import VigilStore

@Suite("Event-driven engine")
struct EventDrivenTests {
    /// Waits (no polling) until `feed` shows a commit on `repo` for which `done` holds.
    private func waitFor(
        _ repo: String, in feed: AsyncStream<CommitInfo>, _ done: (CommitInfo) async throws -> Bool
    ) async throws -> CommitInfo {
        for await commit in feed where commit.repo == repo {
            if try await done(commit) { return commit }
        }
        throw CancellationError()
    }

    @Test func aCommitRunsTheChainAtOnce() async throws {
        let fixture = try await EngineFixture()
        defer { fixture.cleanUp() }
        try await fixture.store.createRepo("images")
        try await fixture.createCopyChain(["one", "two", "three"])
        let engine = fixture.engine
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await engine.run() }
            for index in 0..<5 {
                let feed = fixture.store.commits.subscribe()
                let input = try await commit(["/f\(index)": "\(index)"], to: "images", in: fixture.store)
                let output = try await waitFor("three", in: feed) { $0.tree.files == Int64(index + 1) }
                // The end of the chain was computed from the new image, through the two stages before it.
                let upstream = try await fixture.store.provenance(of: output.reference, transitive: true)
                #expect(upstream.contains(input.reference))
            }
            engine.stopGracefully()
            try await group.waitForAll()
        }
        #expect(try await fixture.files("three").count == 5)
    }

    @Test func eachCommitStepsEachPipelineOnceWithNoEmptyStepAfterItsJob() async throws {
        var fixture = try await EngineFixture()
        defer { fixture.cleanUp() }
        let jobs = InterceptingJobStore(fixture.environment.jobs)
        fixture.environment.jobs = jobs
        try await fixture.store.createRepo("images")
        try await fixture.createCopyChain(["one", "two", "three"])
        let engine = fixture.engine
        let commits = 5
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await engine.run() }
            // The engine hears of commits once it has looked at each pipeline (and found nothing to do).
            let deadline = ContinuousClock.now + .seconds(10)
            while jobs.steps < 3, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(1)) }
            for index in 0..<commits {
                let feed = fixture.store.commits.subscribe()
                try await commit(["/f\(index)": "\(index)"], to: "images", in: fixture.store)
                _ = try await waitFor("three", in: feed) { $0.tree.files == Int64(index + 1) }
            }
            engine.stopGracefully()
            try await group.waitForAll()
        }
        #expect(try await fixture.files("three").count == commits)
        // One step per pipeline at start (nothing to do), then one per pipeline for each commit, whose job ran on
        // the heads it read: no step after it to find that nothing is left.
        #expect(jobs.steps == 3 + 3 * commits, "\(jobs.steps) steps")
    }

    /// On the data folder, the feed that tells the engine of other processes' commits says nothing of the
    /// engine's own, which reach it at once through the commit feed: no step for them, however long it waits.
    @Test func theDataFoldersFeedAddsNoStepForTheEnginesOwnCommits() async throws {
        var fixture = try await EngineFixture(onDisk: true)
        defer { fixture.cleanUp() }
        let jobs = InterceptingJobStore(fixture.environment.jobs)
        fixture.environment.jobs = jobs
        try await fixture.store.createRepo("images")
        try await fixture.createCopyChain(["one", "two"])
        let engine = PipelineEngine(environment: fixture.environment, changes: fixture.changeFeed)
        let commits = 4
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await engine.run() }
            let deadline = ContinuousClock.now + .seconds(10)
            while jobs.steps < 2, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(1)) }
            // The first write the feed sees is reported whoever made it (it has seen nothing before): one look
            // at every pipeline, once, before counting. (Written until seen: the feed's watch may start late.)
            let looked = ContinuousClock.now + .seconds(60)
            var unread = 0
            while jobs.steps < 4, ContinuousClock.now < looked {
                try await fixture.store.createRepo("unread\(unread)")
                unread += 1
                try await Task.sleep(for: .milliseconds(200))
            }
            try await Task.sleep(for: .milliseconds(800))
            let atStart = jobs.steps
            #expect(atStart == 4, "\(atStart) steps before the first commit")
            for index in 0..<commits {
                let feed = fixture.store.commits.subscribe()
                try await commit(["/f\(index)": "\(index)"], to: "images", in: fixture.store)
                _ = try await waitFor("two", in: feed) { $0.tree.files == Int64(index + 1) }
                // Longer than the feed's interval (0.5 s) and its first follow-up looks.
                try await Task.sleep(for: .milliseconds(800))
            }
            engine.stopGracefully()
            try await group.waitForAll()
            #expect(jobs.steps - atStart == 2 * commits, "\(jobs.steps - atStart) steps for \(commits) commits")
        }
        #expect(try await fixture.files("two").count == commits)
    }

    @Test func commitsArrivingDuringAJobAreBatchedIntoTheNext() async throws {
        let gate = GateStage()
        let fixture = try await EngineFixture(stages: .with("gate", gate))
        defer { fixture.cleanUp() }
        try await fixture.store.createRepo("images")
        try await fixture.create("{name: out, input: {pfs: {repo: images, glob: '/*'}}, transform: {stage: gate}}")
        let engine = fixture.engine
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await engine.run() }
            let feed = fixture.store.commits.subscribe()
            try await commit(["/first": "1"], to: "images", in: fixture.store)
            await gate.waitUntilEntered()
            // The first job is held inside its datum; three commits arrive meanwhile.
            for name in ["a", "b", "c"] { try await commit(["/\(name)": name], to: "images", in: fixture.store) }
            gate.open()
            _ = try await waitFor("out", in: feed) { $0.tree.files == 4 }
            engine.stopGracefully()
            try await group.waitForAll()
        }
        let jobs = try await fixture.environment.jobs.jobs(pipeline: "out", limit: 10)
        #expect(jobs.count == 2)
        #expect(jobs.map(\.counts.processed).sorted() == [1, 3])
    }

    @Test func gracefulShutdownStopsAtADatumBoundaryAndTheJobResumes() async throws {
        let gate = GateStage()
        let fixture = try await EngineFixture(stages: .with("gate", gate))
        defer { fixture.cleanUp() }
        try await fixture.store.createRepo("images")
        var files: [String: String] = [:]
        for index in 0..<20 { files["/f\(index)"] = "\(index)" }
        try await commit(files, to: "images", in: fixture.store)
        try await fixture.create("{name: out, input: {pfs: {repo: images, glob: '/*'}}, transform: {stage: gate}}")
        let first = PipelineEngine(environment: fixture.environment)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await first.runUntilIdle() }
            await gate.waitUntilEntered()
            // Stop between datums: the one in flight finishes, no new one starts.
            first.stopGracefully()
            gate.open()
            try await group.waitForAll()
        }
        let stopped = try #require(try await fixture.environment.jobs.runningJobs().first)
        let done = try await fixture.environment.jobs.datums(job: stopped.id, state: .success, limit: 100)
        #expect(done.count == 1)
        #expect(try await fixture.store.resolveCommit("out", ref: nil) == nil)

        let resumed = try #require(try await fixture.engine.runUntilIdle().first)
        #expect(resumed.id == stopped.id)
        #expect(resumed.state == .finished)
        #expect(resumed.counts.recovered == 1)
        #expect(resumed.counts.processed == 19)
        #expect(gate.runs == 20)
        #expect(try await fixture.files("out").count == 20)
    }
}

/// Holds the first datum until opened; copies its input through.
final class GateStage: Stage, Sendable {
    private let state = Mutex<(entered: Bool, open: Bool, runs: Int)>((false, false, 0))

    func process(_ datum: DatumContext) async throws {
        state.withLock {
            $0.entered = true
            $0.runs += 1
        }
        while !state.withLock({ $0.open }) { try await Task.sleep(for: .milliseconds(5)) }
        for input in datum.datum.inputs { try datum.link(input.path, to: .file(input.hash, size: input.size)) }
    }

    func waitUntilEntered() async {
        while !state.withLock({ $0.entered }) { try? await Task.sleep(for: .milliseconds(5)) }
    }

    func open() { state.withLock { $0.open = true } }
    var runs: Int { state.withLock { $0.runs } }
}
