import Foundation
import Tracing
import VigilStore

/// A job hands its output commit to the next pipeline: when the pipeline that reads the commit runs a stage
/// that takes little time per datum (`Stage.joinsUpstreamCommit`, the threats stage's rule lookups), its job
/// runs inside the upstream job, on the commit prepared but not yet published, and the two commits are then
/// published in one transaction behind one barrier. A frame's detection and its threat land together, without
/// the second job's start, barrier and head on the way to its alert.
///
/// Nothing else changes: each commit is the one its job would have made alone (the downstream's provenance
/// names the upstream's commit, its datum index names its job), and the downstream pipeline's own step, woken
/// by the commits, finds its inputs already processed. Whenever the hand-off cannot be made exactly as that
/// step would have made the job (the downstream has a job running, a run was asked for, its spec changed, a
/// datum failed, a head moved), nothing of it is published and both jobs run as they would without it.
///
/// The downstream job's record is written after the commits, as one that ended: a crash in between leaves its
/// commit (whose datum index names the job) without the job's record in `vigil job list`, and nothing else.
extension PipelineEngine {
    /// The most datums an upstream job may have processed and removed for its downstream to run inside it: a
    /// large batch's commit is not held back for the downstream's datums.
    static let handOffLimit = 256

    /// The hand-off of jobs run by this engine's steps.
    var handOffs: JobRunner.HandOff {
        JobRunner.HandOff(
            plan: { job, writer in await self.planHandOff(of: job, writer: writer) },
            make: { planned, offer in await self.handOff(planned, offer) })
    }

    /// Plans the downstream job of `job`, whose output commit `writer` builds: called as the job starts, beside
    /// its datums, so that its reads are not on the way from the last datum to the commit. Nil when no pipeline
    /// would take the commit, or not as its own step would.
    func planHandOff(of job: JobInfo, writer: CommitWriter) async -> PlannedHandOff? {
        guard environment.handsOff, environment.queue == nil, let parent = writer.baseHead else { return nil }
        let known = knownPipelines.withLock { records in
            records.filter {
                $0.name != job.pipeline
                    && Self.countedLeaf(of: $0.spec, repo: writer.repo, branch: writer.branch) != nil
            }
            .min { $0.name < $1.name }
        }
        guard let known else { return nil }
        do {
            // Whether the stage joins at all, from the pipelines as last read, before anything else is read.
            guard try await workers.stages(for: known).allSatisfy(\.joinsUpstreamCommit) else { return nil }
            return try await plan(known.name, reading: writer, parent: parent)
        } catch {
            environment.logger.warning(
                "cannot plan a job inside its upstream's; it runs on its own",
                metadata: ["pipeline": "\(known.name)", "upstream": "\(job.pipeline)", "error": "\(error)"])
            return nil
        }
    }

    /// Runs the planned downstream job on the upstream's commit, prepared, and publishes both; returns the
    /// commits (the upstream's first), or nil when the upstream must publish alone.
    func handOff(_ planned: PlannedHandOff, _ offer: HandOffOffer) async -> [CommitInfo]? {
        let job = offer.job
        guard !isStopping(), job.counts.processed + job.counts.removed <= Self.handOffLimit else { return nil }
        do {
            return try await run(planned, on: try await offer.prepare())
        } catch {
            environment.logger.warning(
                "a job could not run inside its upstream's; it runs on its own",
                metadata: ["pipeline": "\(planned.record.name)", "upstream": "\(job.pipeline)", "error": "\(error)"])
            return nil
        }
    }

    /// The one input of `spec` that makes datums, when it reads `repo@branch`.
    static func countedLeaf(of spec: PipelineSpec, repo: String, branch: String) -> PFSInput? {
        let sideInputs = spec.input.sideInputs
        let counted = spec.input.leaves.filter { !sideInputs.contains($0.name) }
        guard counted.count == 1, let leaf = counted.first, leaf.repo == repo, leaf.branch == branch else { return nil }
        return leaf
    }

    /// A downstream job planned on an upstream commit not yet built.
    struct PlannedHandOff: Sendable {
        var record: PipelineRecord
        var stages: [any Stage]
        /// The job, with the counted input's commit, and so its list of inputs, still to be filled in.
        var job: JobInfo
        var leaf: PFSInput
        var output: CommitInfo?
        var state: DatumIndex.State
        var started: Date
    }

    /// The job `name`'s own step would start once `writer`'s commit (on `parent`) is published, or nil when the
    /// hand-off would not be that job: the pipeline has a job running or a run asked for, its spec changed
    /// since its last job, or that job did not process exactly `parent`.
    private func plan(_ name: String, reading writer: CommitWriter, parent: String) async throws -> PlannedHandOff? {
        let started = Date()
        let store = environment.store
        guard let record = try await environment.jobs.pipeline(named: name), !record.runRequested,
            let leaf = Self.countedLeaf(of: record.spec, repo: writer.repo, branch: writer.branch)
        else { return nil }
        let spec = record.spec
        async let outputHead = Self.head(of: name, in: store)
        async let runningJobs = environment.jobs.runningJobs(pipeline: name)
        async let made = workers.stages(for: record)
        // The side inputs as they are now, as the step would read them; the counted input is the new commit.
        var inputCommits: [String: String] = [:]
        for input in spec.input.leaves where input.name != leaf.name {
            guard let branch = try await store.metadata.branch(input.branch, in: input.repo) else { return nil }
            if let head = branch.head { inputCommits[input.name] = head }
        }
        let (output, state) = try await outputHead
        let stages = try await made
        let sideInputs = spec.input.sideInputs
        guard try await runningJobs.isEmpty, stages.allSatisfy(\.joinsUpstreamCommit), let state,
            state.specHash == spec.specHash,
            state.inputs.filter({ !sideInputs.contains($0.key) }) == [leaf.name: parent]
        else { return nil }
        // Its inputs are listed once the counted one's commit is known (`run`).
        let job = JobInfo(
            id: VersionedStore.newID(), pipeline: name, specHash: spec.specHash, inputs: [],
            inputCommits: inputCommits, baseOutput: output?.id, full: false, holder: environment.holder,
            started: environment.clock())
        return PlannedHandOff(
            record: record, stages: stages, job: job, leaf: leaf, output: output, state: state, started: started)
    }

    /// Runs the planned job on the upstream's prepared commit and publishes both commits together.
    private func run(_ planned: PlannedHandOff, on upstream: PreparedCommit) async throws -> [CommitInfo]? {
        let commit = upstream.commit
        var job = planned.job
        job.inputCommits[planned.leaf.name] = commit.id
        // In the spec's order of inputs, as the step lists them.
        var inputs: [CommitReference] = []
        for input in planned.record.spec.input.leaves {
            guard let id = job.inputCommits[input.name] else { continue }
            let reference = CommitReference(repo: input.repo, commit: id)
            if !inputs.contains(reference) { inputs.append(reference) }
        }
        job.inputs = inputs
        var runner = JobRunner(
            environment: environment, pipeline: planned.record, workers: planned.stages, shouldStop: isStopping)
        runner.pendingInputs = [commit.id: commit]
        runner.stepStarted = planned.started
        runner.defersRecords = true
        guard let prepared = try await runner.runPrepared(job, output: planned.output, outputState: planned.state)
        else { return nil }
        let name = planned.record.name
        // Said before the commit can reach the dispatcher; taken back when it is not published.
        let skip = "\(name) \(commit.id)"
        if isDispatching {
            handedOff.withLock { skipped in
                // Each is removed as its commit arrives; a bound, should one never arrive.
                if skipped.count >= 1_024 { skipped.removeAll() }
                skipped.insert(skip)
            }
        }
        let published: [CommitInfo]?
        do {
            published = try await environment.store.publish(together: [upstream, prepared.commit])
        } catch {
            handedOff.withLock { _ = $0.remove(skip) }
            await prepared.commit.writer.abandon()
            throw error
        }
        guard let published else {
            handedOff.withLock { _ = $0.remove(skip) }
            await prepared.commit.writer.abandon()
            return nil
        }
        let made = published[1]
        let ended = Date()
        DatumIndex.remember(prepared.state, of: made)
        for (headers, finished) in prepared.traced {
            let span = startSpan("output commit \(name)", at: WallClockInstant(finished), context: headers.context)
            span.attributes["vigil.commit"] = "\(name)@\(made.id)"
            span.end(at: WallClockInstant(ended))
        }
        await recordJob(prepared, output: made)
        return published
    }

    /// Writes a handed-off job's record, ended, with its datum records, once its commit is published. A failure
    /// is logged: the commit stands either way, and its datum index names the job.
    private func recordJob(_ prepared: JobRunner.PreparedJob, output: CommitInfo) async {
        var job = prepared.job
        do {
            if let running = try await environment.jobs.startJob(job, isAlive: { _ in true }) {
                environment.logger.warning(
                    "a handed-off job's record was not written: another job of the pipeline is running",
                    metadata: ["pipeline": "\(job.pipeline)", "job": "\(job.id)", "running": "\(running.id)"])
                return
            }
            try await JobRunner.end(&job, output: output.id, records: prepared.records, environment: environment)
        } catch {
            environment.logger.error(
                "a handed-off job's record could not be written; its commit stands",
                metadata: ["pipeline": "\(job.pipeline)", "job": "\(job.id)", "error": "\(error)"])
        }
    }
}
