import Foundation

/// Durable state of the pipeline engine: pipelines, jobs and datum records. Implementations: `SQLiteJobStore`
/// (file or in memory). The output commits themselves live in the versioned store; this is what lets a killed
/// engine resume a job and a user see what happened.
public protocol JobStore: Sendable {
    /// Creates (`expectedVersion` nil) or replaces (the stored version must equal it) a pipeline.
    /// Throws `PipelineError.pipelineExists` / `.pipelineNotFound` / `.conflict` when that does not hold.
    func putPipeline(_ record: PipelineRecord, expectedVersion: Int?) async throws
    func pipeline(named name: String) async throws -> PipelineRecord?
    func pipelines() async throws -> [PipelineRecord]
    /// Deletes the pipeline with its jobs and datum records.
    func deletePipeline(named name: String) async throws
    /// Sets (a full job, or with `recompute` a job from an empty output) or clears the pipeline's run request;
    /// returns whether one was set before.
    func setRunRequested(_ requested: Bool, recompute: Bool, pipeline name: String) async throws -> Bool

    /// Records a new running job, unless another job of the pipeline is running under a live holder: then
    /// returns that job and records nothing. A running job whose holder `isAlive` denies is returned too, for
    /// the caller to resume. Returns nil when `job` was recorded.
    func startJob(_ job: JobInfo, isAlive: @Sendable (JobInfo) -> Bool) async throws -> JobInfo?
    /// Inserts the job's last datum records and replaces its record, in one transaction: how a job ends. Only a
    /// running job's record is replaced: one that has ended keeps its ending (`conflict`), whoever writes late.
    func finishJob(_ job: JobInfo, records: [DatumRecord]) async throws
    func job(id: String) async throws -> JobInfo?
    /// Jobs newest first, of one pipeline or all.
    func jobs(pipeline: String?, limit: Int) async throws -> [JobInfo]
    /// Jobs still `running` (alive or crashed), oldest first: of one pipeline, or all (`nil`).
    func runningJobs(pipeline: String?) async throws -> [JobInfo]
    /// The pipeline's newest job when it is in `state`; nil when it is in another or there is none. What the
    /// engine checks at every step: it reads the state and decodes only a record it needs.
    func newestJob(pipeline: String, ifIn state: JobState) async throws -> JobInfo?

    /// Inserts or replaces datum records, in one transaction.
    func recordDatums(_ records: [DatumRecord]) async throws
    func datum(job: String, id: String) async throws -> DatumRecord?
    /// A job's datum records, in the order they finished; `state` filters.
    func datums(job: String, state: DatumState?, limit: Int) async throws -> [DatumRecord]
    /// The successful datums of a job, by id: what a resumed job takes over.
    func successfulDatums(job: String) async throws -> [String: DatumRecord]
    /// The successful datums of a job recorded after `position` (0: from the first), in the order they
    /// finished, with the position to pass next time: how a coordinator takes in a queued job's results as they
    /// come. A record committed while another was being read may land behind the position returned: a caller
    /// that must see every record checks against `successfulDatums(job:)` at the end.
    func successfulDatums(job: String, after position: Int64) async throws -> (records: [DatumRecord], next: Int64)
}

extension JobStore {
    /// Every pipeline's jobs still `running`, oldest first.
    public func runningJobs() async throws -> [JobInfo] {
        try await runningJobs(pipeline: nil)
    }

    /// Replaces a job's record (state, counts, output, heartbeat, holder).
    public func updateJob(_ job: JobInfo) async throws {
        try await finishJob(job, records: [])
    }
}

extension PipelineRecord {
    /// The rule of `putPipeline`, for every store: create only what is not there (`expected` nil), replace only
    /// the version the caller read.
    static func checkVersion(of name: String, stored: Int?, expected: Int?) throws {
        switch (stored, expected) {
        case (.some, nil): throw PipelineError.pipelineExists(name)
        case (nil, .some): throw PipelineError.pipelineNotFound(name)
        case (let stored?, let expected?) where stored != expected:
            throw PipelineError.changedMeanwhile(name, version: stored)
        default: return
        }
    }
}
