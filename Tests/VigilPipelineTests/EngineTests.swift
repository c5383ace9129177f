import Foundation
import Synchronization
import Testing
import VigilPipeline
import VigilStore

@Suite("Pipeline engine")
struct EngineTests {
    @Test func oneFileAddedToAThousandRunsOneDatum() async throws {
        let stage = RecordingStage()
        let fixture = try await EngineFixture(stages: .with("record", stage))
        defer { fixture.cleanUp() }
        try await fixture.store.createRepo("images")
        var files: [String: String] = [:]
        for index in 0..<1_000 { files["/cam\(index % 4)-\(1_700_000_000 + index).jpg"] = "frame \(index)" }
        let first = try await commit(files, to: "images", in: fixture.store)
        let record = try await fixture.create(
            "{name: frames, input: {pfs: {repo: images, glob: '/*'}}, transform: {stage: record}, parallelism: 2}")

        let jobs = try await fixture.engine.runUntilIdle()
        let job = try #require(jobs.first)
        #expect(jobs.count == 1)
        #expect(job.state == .finished)
        #expect(job.counts.processed == 1_000)
        #expect(stage.totalRuns == 1_000)
        let output = try #require(try await fixture.store.resolveCommit("frames", ref: nil))
        #expect(output.tree.files == 1_000)
        #expect(output.provenance.inputs == [first.reference])
        #expect(output.provenance.origin == "pipeline:frames spec=\(record.spec.specHash)")
        #expect(job.output == output.id)

        let second = try await commit(["/cam9-1800000000.jpg": "new"], to: "images", in: fixture.store)
        let next = try await fixture.engine.runUntilIdle()
        #expect(next.count == 1)
        #expect(next.first?.counts.processed == 1)
        #expect(next.first?.full == false)
        #expect(stage.totalRuns == 1_001)
        #expect(try await fixture.files("frames")["/cam9-1800000000.jpg.out"] == "new")
        let latest = try #require(try await fixture.store.resolveCommit("frames", ref: nil))
        #expect(latest.provenance.inputs == [second.reference])
        #expect(latest.tree.files == 1_001)

        // Nothing new: no job at all.
        #expect(try await fixture.engine.runUntilIdle().isEmpty)
    }

    @Test func deletionsAndEditsPropagateThroughAChainOfThree() async throws {
        let fixture = try await EngineFixture()
        defer { fixture.cleanUp() }
        try await fixture.store.createRepo("images")
        try await commit(["/a.jpg": "a", "/b.jpg": "b", "/c.jpg": "c"], to: "images", in: fixture.store)
        try await fixture.createCopyChain(["one", "two", "three"])

        let first = try await fixture.engine.runUntilIdle()
        #expect(first.map(\.pipeline) == ["one", "two", "three"])
        #expect(try await fixture.files("three") == ["/a.jpg": "a", "/b.jpg": "b", "/c.jpg": "c"])

        try await commit(["/c.jpg": "C", "/d.jpg": "d"], to: "images", in: fixture.store, deleting: ["/a.jpg"])
        let second = try await fixture.engine.runUntilIdle()
        #expect(second.map(\.pipeline) == ["one", "two", "three"])
        #expect(second.allSatisfy { $0.counts.removed == 2 && $0.counts.processed == 2 && !$0.full })
        #expect(try await fixture.files("three") == ["/b.jpg": "b", "/c.jpg": "C", "/d.jpg": "d"])

        // Provenance reaches back from the end of the chain to the images.
        let end = try #require(try await fixture.store.resolveCommit("three", ref: nil))
        let upstream = try await fixture.store.provenance(of: end.reference, transitive: true)
        #expect(Set(upstream.map(\.repo)) == ["two", "one", "images"])
        // Copies cost nothing: the chain's outputs name the images' blobs.
        let image = try await fixture.store.list(Address(repo: "images", path: "/b.jpg"))
        let copied = try await fixture.store.list(Address(repo: "three", path: "/b.jpg"))
        #expect(image.first?.hash == copied.first?.hash)
    }

    @Test func aFileReplacedByAFolderIsOneChangedDatum() async throws {
        let stage = RecordingStage()
        let fixture = try await EngineFixture(stages: .with("record", stage))
        defer { fixture.cleanUp() }
        try await fixture.store.createRepo("images")
        try await commit(["/a": "1", "/b": "2", "/c": "3"], to: "images", in: fixture.store)
        try await fixture.create("{name: out, input: {pfs: {repo: images, glob: '/*'}}, transform: {stage: record}}")
        _ = try await fixture.engine.runUntilIdle()
        #expect(try await fixture.files("out") == ["/a.out": "1", "/b.out": "2", "/c.out": "3"])

        // The diff says "/a" (a file) went and "/a/x" came: the datum "/a" is the new folder, not gone.
        try await commit(["/b": "5"], to: "images", in: fixture.store, deleting: ["/a"])
        try await commit(["/a/x": "4"], to: "images", in: fixture.store)
        let job = try #require(try await fixture.engine.runUntilIdle().last)
        #expect(!job.full)
        #expect(job.counts.processed == 2 && job.counts.removed == 2, "\(job.counts) \(job.error ?? "")")
        #expect(try await fixture.files("out") == ["/a.out": "4", "/b.out": "5", "/c.out": "3"])
    }

    @Test func crossAndUnionInputs() async throws {
        let stage = RecordingStage()
        let fixture = try await EngineFixture(stages: .with("record", stage))
        defer { fixture.cleanUp() }
        try await fixture.store.createRepo("detect")
        try await fixture.store.createRepo("rules")
        try await commit(["/cam1/a.json": "A", "/cam2/b.json": "B"], to: "detect", in: fixture.store)
        try await commit(["/rules.yaml": "r1"], to: "rules", in: fixture.store)
        try await fixture.create(
            """
            name: threats
            input: {cross: [{pfs: {repo: detect, glob: '/*/*'}}, {pfs: {repo: rules, glob: '/'}}]}
            transform: {stage: record}
            """)
        _ = try await fixture.engine.runUntilIdle()
        #expect(try await fixture.files("threats") == ["/cam1/a.json.out": "A|r1", "/cam2/b.json.out": "B|r1"])

        // A new detection: one datum (it times the one rules datum).
        try await commit(["/cam1/c.json": "C"], to: "detect", in: fixture.store)
        let added = try await fixture.engine.runUntilIdle()
        #expect(added.first?.counts.processed == 1)
        #expect(try await fixture.files("threats")["/cam1/c.json.out"] == "C|r1")

        // New rules: every combination is new.
        try await commit(["/rules.yaml": "r2"], to: "rules", in: fixture.store)
        let rejudged = try await fixture.engine.runUntilIdle()
        #expect(rejudged.first?.counts.processed == 3)
        #expect(rejudged.first?.counts.removed == 3)
        #expect(
            try await fixture.files("threats") == [
                "/cam1/a.json.out": "A|r2", "/cam1/c.json.out": "C|r2", "/cam2/b.json.out": "B|r2",
            ])

        try await fixture.store.createRepo("left")
        try await fixture.store.createRepo("right")
        try await commit(["/x": "x"], to: "left", in: fixture.store)
        try await commit(["/y": "y", "/z": "z"], to: "right", in: fixture.store)
        try await fixture.create(
            "{name: both, input: {union: [{pfs: {repo: left, glob: '/*'}}, {pfs: {repo: right, glob: '/*'}}]}, "
                + "transform: {stage: record}}")
        _ = try await fixture.engine.runUntilIdle(only: ["both"])
        #expect(try await fixture.files("both") == ["/x.out": "x", "/y.out": "y", "/z.out": "z"])
        try await commit([:], to: "right", in: fixture.store, deleting: ["/y"])
        _ = try await fixture.engine.runUntilIdle(only: ["both"])
        #expect(try await fixture.files("both") == ["/x.out": "x", "/z.out": "z"])
    }

    @Test func retriesThenRecordsFailuresWithoutBlockingOthers() async throws {
        let flaky = RecordingStage(failFirst: 2, alwaysFail: ["/bad.jpg"])
        let fixture = try await EngineFixture(stages: .with("flaky", flaky))
        defer { fixture.cleanUp() }
        try await fixture.store.createRepo("images")
        try await commit(["/good.jpg": "g", "/bad.jpg": "b", "/other.jpg": "o"], to: "images", in: fixture.store)
        try await fixture.create(
            "{name: out, input: {pfs: {repo: images, glob: '/*'}}, transform: {stage: flaky}, datumTries: 3}")
        let job = try #require(try await fixture.engine.runUntilIdle().first)
        #expect(job.state == .finishedWithFailures)
        #expect(job.counts.processed == 2)
        #expect(job.counts.failed == 1)
        #expect(try await fixture.files("out") == ["/good.jpg.out": "g", "/other.jpg.out": "o"])

        let failed = try await fixture.environment.jobs.datums(job: job.id, state: .failed, limit: 10)
        #expect(failed.count == 1)
        #expect(failed.first?.inputs.map(\.path) == ["/bad.jpg"])
        #expect(failed.first?.attempts == 3)
        #expect(failed.first?.error?.contains("refusing /bad.jpg") == true)
        let succeeded = try await fixture.environment.jobs.datums(job: job.id, state: .success, limit: 10)
        #expect(succeeded.map(\.attempts) == [3, 3])
        #expect(succeeded.allSatisfy { $0.log.contains("processed") })

        // An incremental job does not retry it; `pipeline run` does (a full job), and keeps what is done.
        try await commit(["/new.jpg": "n"], to: "images", in: fixture.store)
        let next = try #require(try await fixture.engine.runUntilIdle().first)
        #expect(next.counts.processed == 1 && next.counts.failed == 0)
        try await fixture.manager.requestRun("out")
        let full = try #require(try await fixture.engine.runUntilIdle().first)
        #expect(full.full)
        #expect(full.counts.skipped == 3)
        #expect(full.counts.failed == 1)
        #expect(try await fixture.engine.runUntilIdle().isEmpty)
    }

    @Test func aSideInputIsReadByNewDatumsButReprocessesNothingUnlessAskedTo() async throws {
        let stage = RecordingStage()
        let fixture = try await EngineFixture(stages: .with("record", stage))
        defer { fixture.cleanUp() }
        try await fixture.store.createRepo("detect")
        try await fixture.store.createRepo("rules")
        try await commit(["/cam1/a.json": "A", "/cam2/b.json": "B"], to: "detect", in: fixture.store)
        let rules1 = try await commit(["/rules.yaml": "r1"], to: "rules", in: fixture.store)
        let record = try await fixture.create(
            """
            name: threats
            input: {cross: [{pfs: {repo: detect, glob: '/*/*'}}, {pfs: {repo: rules, glob: '/', reprocess: false}}]}
            transform: {stage: record}
            """)
        #expect(record.spec.input.sideInputs == ["rules"])
        _ = try await fixture.engine.runUntilIdle()
        #expect(try await fixture.files("threats") == ["/cam1/a.json.out": "A|r1", "/cam2/b.json.out": "B|r1"])

        // New rules alone: no job, nothing re-judged.
        let rules2 = try await commit(["/rules.yaml": "r2"], to: "rules", in: fixture.store)
        #expect(try await fixture.engine.runUntilIdle().isEmpty)
        // A new detection is judged with the latest rules; the old ones keep theirs. Provenance names both.
        try await commit(["/cam1/c.json": "C"], to: "detect", in: fixture.store)
        let next = try #require(try await fixture.engine.runUntilIdle().first)
        #expect(next.counts.processed == 1 && next.counts.removed == 0)
        #expect(
            try await fixture.files("threats") == [
                "/cam1/a.json.out": "A|r1", "/cam1/c.json.out": "C|r2", "/cam2/b.json.out": "B|r1",
            ])
        let output = try #require(try await fixture.store.resolveCommit("threats", ref: nil))
        #expect(output.provenance.inputs.contains(rules2.reference))
        #expect(!output.provenance.inputs.contains(rules1.reference))
        // A full run does not re-judge either (the datums are the same); a recompute does.
        try await fixture.manager.requestRun("threats")
        #expect(try await fixture.engine.runUntilIdle().first?.counts.skipped == 3)
        try await fixture.manager.requestRun("threats", recompute: true)
        let again = try #require(try await fixture.engine.runUntilIdle().first)
        #expect(again.counts.processed == 3)
        #expect(
            try await fixture.files("threats") == [
                "/cam1/a.json.out": "A|r2", "/cam1/c.json.out": "C|r2", "/cam2/b.json.out": "B|r2",
            ])
        #expect(try await fixture.engine.runUntilIdle().isEmpty)
    }

    @Test func aChangedSpecRecomputesButMoreWorkersDoNot() async throws {
        let stage = RecordingStage()
        let fixture = try await EngineFixture(stages: .with("record", stage))
        defer { fixture.cleanUp() }
        try await fixture.store.createRepo("images")
        try await commit(["/a": "a", "/b": "b"], to: "images", in: fixture.store)
        try await fixture.create("{name: out, input: {pfs: {repo: images, glob: '/*'}}, transform: {stage: copy}}")
        _ = try await fixture.engine.runUntilIdle()
        let more = "{name: out, input: {pfs: {repo: images, glob: '/*'}}, transform: {stage: copy}, parallelism: 4}"
        try await fixture.manager.update(try PipelineSpecParser.parse(more), source: more)
        #expect(try await fixture.engine.runUntilIdle().isEmpty)

        let other = "{name: out, input: {pfs: {repo: images, glob: '/*'}}, transform: {stage: record}}"
        try await fixture.manager.update(try PipelineSpecParser.parse(other), source: other)
        let job = try #require(try await fixture.engine.runUntilIdle().first)
        #expect(job.counts.processed == 2 && job.counts.removed == 2, "\(job.counts) \(job.error ?? "")")
        #expect(try await fixture.files("out") == ["/a.out": "a", "/b.out": "b"])
    }

    @Test func aJobThatCannotStartIsNotRetriedUntilSomethingChanges() async throws {
        var stages = StageRegistry.builtIn
        stages.register("broken") { _ in throw PipelineError(.badStageOption, "the model file is missing") }
        let fixture = try await EngineFixture(stages: stages)
        defer { fixture.cleanUp() }
        try await fixture.store.createRepo("images")
        try await commit(["/a": "a"], to: "images", in: fixture.store)
        try await fixture.create("{name: out, input: {pfs: {repo: images, glob: '/*'}}, transform: {stage: broken}}")
        let first = try await fixture.engine.runUntilIdle()
        #expect(first.map(\.state) == [.failed])
        #expect(first.first?.error?.contains("the model file is missing") == true)
        #expect(try await fixture.engine.runUntilIdle().isEmpty)
        // New data, or an explicit run, tries again.
        try await commit(["/b": "b"], to: "images", in: fixture.store)
        #expect(try await fixture.engine.runUntilIdle().map(\.state) == [.failed])
        try await fixture.manager.requestRun("out")
        #expect(try await fixture.engine.runUntilIdle().map(\.state) == [.failed])
        #expect(try await fixture.engine.runUntilIdle().isEmpty)
    }

    /// A job opens its output commit (a writer's lease) while it reads its inputs. When the reading fails (here
    /// a resumed job whose input commit is gone), the opened commit is abandoned: no lease is left to hold gc
    /// back until it expires.
    @Test func aJobThatFailsToReadItsInputsLeavesNoWriterLease() async throws {
        let fixture = try await EngineFixture()
        defer { fixture.cleanUp() }
        try await fixture.store.createRepo("images")
        try await commit(["/a": "a"], to: "images", in: fixture.store)
        let record = try await fixture.create(
            "{name: out, input: {pfs: {repo: images, glob: '/*'}}, transform: {stage: copy}}")
        let gone = String(repeating: "0", count: 32)
        let left = JobInfo(
            id: String(repeating: "1", count: 32), pipeline: "out", specHash: record.spec.specHash,
            inputs: [CommitReference(repo: "images", commit: gone)], inputCommits: ["images": gone], baseOutput: nil,
            full: true, holder: fixture.environment.holder, started: Date())
        #expect(try await fixture.environment.jobs.startJob(left, isAlive: { _ in false }) == nil)
        let failure = await #expect(throws: PipelineError.self) { try await fixture.engine.runUntilIdle() }
        #expect(failure?.message.contains("input commit \(gone)") == true, "\(String(describing: failure))")
        #expect(try await fixture.store.metadata.leases().isEmpty, "the output commit opened beside it is abandoned")
    }

    @Test func badPipelinesAreRefusedWithTheReason() async throws {
        let fixture = try await EngineFixture()
        defer { fixture.cleanUp() }
        try await fixture.store.createRepo("images")
        let missing = await #expect(throws: PipelineError.self) {
            try await fixture.create("{name: p, input: {pfs: {repo: nope, glob: '/*'}}, transform: {stage: copy}}")
        }
        #expect(missing?.message.contains("input repo 'nope' does not exist") == true)
        let stage = await #expect(throws: PipelineError.self) {
            try await fixture.create("{name: p, input: {pfs: {repo: images, glob: '/*'}}, transform: {stage: nope}}")
        }
        #expect(stage?.code == .unknownStage)
        try await fixture.create("{name: a, input: {pfs: {repo: images, glob: '/*'}}, transform: {stage: copy}}")
        try await fixture.create("{name: b, input: {pfs: {repo: a, glob: '/*'}}, transform: {stage: copy}}")
        let loop = "{name: a, input: {pfs: {repo: b, glob: '/*'}}, transform: {stage: copy}}"
        let cycle = await #expect(throws: PipelineError.self) {
            try await fixture.manager.update(try PipelineSpecParser.parse(loop), source: loop)
        }
        #expect(cycle?.message.contains("feed itself") == true)
        let inUse = await #expect(throws: PipelineError.self) { try await fixture.manager.delete("a") }
        #expect(inUse?.code == .conflict)
        let twice = await #expect(throws: PipelineError.self) {
            try await fixture.create("{name: a, input: {pfs: {repo: images, glob: '/*'}}, transform: {stage: copy}}")
        }
        #expect(twice?.code == .pipelineExists)
    }
}

@Suite("A job that dies after its commit")
struct DiedAfterCommitTests {
    /// A job writes its last datum records with its final state, after the output commit. An engine killed
    /// between the two leaves a job `running` under a dead holder whose commit exists: the next engine marks it
    /// finished from the commit's datum index, and runs nothing again.
    @Test func theNextEngineFinishesItsRecordWithoutRunningAnything() async throws {
        let stage = RecordingStage()
        var fixture = try await EngineFixture(stages: .with("record", stage))
        defer { fixture.cleanUp() }
        // What the kill leaves: the commit made, the job's final record (and last datum records) never written.
        let jobs = InterceptingJobStore.killedBeforeTheRecord(fixture.environment.jobs)
        fixture.environment.jobs = jobs
        try await fixture.store.createRepo("images")
        try await commit(["/cam1-1700000000.jpg": "a", "/cam1-1700000001.jpg": "b"], to: "images", in: fixture.store)
        try await fixture.create("{name: frames, input: {pfs: {repo: images, glob: '/*'}}, transform: {stage: record}}")
        await #expect(throws: CancellationError.self) { try await fixture.engine.runUntilIdle() }
        let left = try #require(try await jobs.jobs(pipeline: "frames", limit: 1).first)
        #expect(left.state == .running, "the kill left the record running")
        let output = try await fixture.store.resolveCommit("frames", ref: nil)
        #expect(output != nil)

        let next = try await fixture.engine.runUntilIdle()
        #expect(next.map(\.id) == [left.id])
        let recovered = try #require(try await jobs.job(id: left.id))
        #expect(recovered.state == .finished)
        #expect(recovered.output == output?.id)
        #expect(recovered.counts.processed == 2)
        #expect(stage.totalRuns == 2, "nothing ran again")
        #expect(try await fixture.store.resolveCommit("frames", ref: nil)?.id == output?.id, "no new commit")
    }
}
