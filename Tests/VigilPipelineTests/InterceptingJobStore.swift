import Foundation
import Synchronization
import VigilPipeline

/// A job store that passes everything on to `base`: how tests count the engine's steps, or make a write fail as
/// a killed process would.
final class InterceptingJobStore: JobStore {
    let base: any JobStore
    /// Called before a job's record is replaced; what it throws, the caller gets.
    private let beforeFinishJob: @Sendable (JobInfo) throws -> Void
    /// Called before a job's record is first written; what it throws, the caller gets.
    private let beforeStartJob: @Sendable (JobInfo) async throws -> Void
    private let runningJobsReads = Atomic<Int>(0)

    init(
        _ base: any JobStore, beforeFinishJob: @escaping @Sendable (JobInfo) throws -> Void = { _ in },
        beforeStartJob: @escaping @Sendable (JobInfo) async throws -> Void = { _ in }
    ) {
        self.base = base
        self.beforeFinishJob = beforeFinishJob
        self.beforeStartJob = beforeStartJob
    }

    /// The engine's steps so far: each reads the running jobs once, and nothing else in the engine does.
    var steps: Int { runningJobsReads.load(ordering: .relaxed) }

    /// A store whose process "dies" right before the first job's final record: that write is lost and the
    /// engine stops there.
    static func killedBeforeTheRecord(_ base: any JobStore) -> InterceptingJobStore {
        let killed = Mutex(false)
        return InterceptingJobStore(
            base,
            beforeFinishJob: { job in
                guard job.state.isDone else { return }
                let first = killed.withLock { killed in
                    defer { killed = true }
                    return !killed
                }
                // The engine stops here, as a killed process would.
                if first { throw CancellationError() }
            })
    }

    func runningJobs(pipeline: String?) async throws -> [JobInfo] {
        runningJobsReads.add(1, ordering: .relaxed)
        return try await base.runningJobs(pipeline: pipeline)
    }
    func newestJob(pipeline: String, ifIn state: JobState) async throws -> JobInfo? {
        try await base.newestJob(pipeline: pipeline, ifIn: state)
    }

    func finishJob(_ job: JobInfo, records: [DatumRecord]) async throws {
        try beforeFinishJob(job)
        try await base.finishJob(job, records: records)
    }

    func putPipeline(_ record: PipelineRecord, expectedVersion: Int?) async throws {
        try await base.putPipeline(record, expectedVersion: expectedVersion)
    }
    func pipeline(named name: String) async throws -> PipelineRecord? { try await base.pipeline(named: name) }
    func pipelines() async throws -> [PipelineRecord] { try await base.pipelines() }
    func deletePipeline(named name: String) async throws { try await base.deletePipeline(named: name) }
    func setRunRequested(_ requested: Bool, recompute: Bool, pipeline name: String) async throws -> Bool {
        try await base.setRunRequested(requested, recompute: recompute, pipeline: name)
    }
    func startJob(_ job: JobInfo, isAlive: @Sendable (JobInfo) -> Bool) async throws -> JobInfo? {
        try await beforeStartJob(job)
        return try await base.startJob(job, isAlive: isAlive)
    }
    func job(id: String) async throws -> JobInfo? { try await base.job(id: id) }
    func jobs(pipeline: String?, limit: Int) async throws -> [JobInfo] {
        try await base.jobs(pipeline: pipeline, limit: limit)
    }
    func recordDatums(_ records: [DatumRecord]) async throws { try await base.recordDatums(records) }
    func datum(job: String, id: String) async throws -> DatumRecord? { try await base.datum(job: job, id: id) }
    func datums(job: String, state: DatumState?, limit: Int) async throws -> [DatumRecord] {
        try await base.datums(job: job, state: state, limit: limit)
    }
    func successfulDatums(job: String) async throws -> [String: DatumRecord] {
        try await base.successfulDatums(job: job)
    }
    func successfulDatums(job: String, after position: Int64) async throws -> (records: [DatumRecord], next: Int64) {
        try await base.successfulDatums(job: job, after: position)
    }
}
