import Foundation
import VigilStore

/// A job's output commit offered to the next pipeline before it is published (`PipelineEngine.handOff`).
struct HandOffOffer: Sendable {
    var job: JobInfo
    var writer: CommitWriter
    /// Builds the commit, unpublished (`CommitWriter.prepare`).
    var prepare: @Sendable () async throws -> PreparedCommit
}

extension JobRunner {
    /// How a job hands its output commit to the next pipeline (`PipelineEngine.handOff`).
    struct HandOff: Sendable {
        /// Plans the downstream job as the job starts, beside its datums; nil when there is none to run.
        var plan: @Sendable (JobInfo, CommitWriter) async -> PipelineEngine.PlannedHandOff?
        /// Runs the planned job on the prepared commit and publishes both; nil: the commit goes alone.
        var make: @Sendable (PipelineEngine.PlannedHandOff, HandOffOffer) async -> [CommitInfo]?
    }

    /// A handed-off job, run to its prepared output commit (`runPrepared`).
    struct PreparedJob: Sendable {
        var job: JobInfo
        var commit: PreparedCommit
        /// Its datum records, written with the job's record once the commit is published.
        var records: [DatumRecord]
        /// Its datums' traces and when each finished, for their spans of the wait for the commit.
        var traced: [(headers: TraceHeaders, finished: Date)]
        var state: DatumIndex.State
    }

    /// Runs `job` like `run`, but leaves its output commit prepared rather than published, and its records
    /// unwritten: for a job that runs inside its upstream's, on that job's commit before it is published
    /// (`PipelineEngine.handOff`). Nil, with nothing published, when the job would not end cleanly (a datum
    /// failed, or the engine is stopping): its pipeline's own step then runs it as usual.
    func runPrepared(_ job: JobInfo, output: CommitInfo?, outputState: DatumIndex.State?) async throws -> PreparedJob? {
        var job = job
        let writer = try await openOutput()
        // Planned on the output head it read: one that has moved since is left to the pipeline's own step.
        guard writer.baseHead == output?.id else {
            await writer.abandon()
            return nil
        }
        do {
            let prepared = try await prepare(&job, output: output, outputState: outputState)
            var execution = Execution(
                runner: self, job: job, writer: writer, base: prepared.base, resumed: [:], traces: prepared.traces)
            try await execution.removeStale(mode: prepared.mode, delta: prepared.delta, planner: prepared.planner)
            try await execution.processDatums(mode: prepared.mode, delta: prepared.delta, planner: prepared.planner)
            job = execution.job
            guard !execution.stopped, job.counts.failed == 0 else {
                await writer.abandon()
                return nil
            }
            let state = DatumIndex.State(
                job: job.id, specHash: job.specHash, inputs: job.inputCommits, counts: job.counts)
            try await writer.putMeta(DatumIndex.statePath, data: try DatumIndex.encode(state))
            let commit = try await writer.prepare(message: message(of: job), provenance: provenance(of: job))
            return PreparedJob(
                job: job, commit: commit, records: execution.takePending(), traced: execution.traced, state: state)
        } catch {
            await writer.abandon()
            throw error
        }
    }
}
