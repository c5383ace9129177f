import Foundation

/// Datums as claimable work, shared by processes on many hosts: how a job's datums are spread over workers
/// that may run anywhere (`vigil worker --pipeline NAME`). Implementation: `PostgresDatumQueue`. The embedded
/// default has none: its engine runs every datum in its own process.
///
/// A job's datums are recorded in the transaction that starts the job. Workers claim small batches; each claim
/// holds a lease, renewed by the worker's heartbeat (not by finishing datums, so a long datum does not look
/// dead), and carries a fencing token: a result is accepted only under the token of the claim that still
/// holds the datum, so a worker that lost its lease (paused, cut off) cannot record it late. Expired leases
/// go back to the queue, by one leader at a time (`lead`, `requeueExpired`). Lease times are the database's
/// clock, not the hosts'.
public protocol DatumQueue: Sendable {
    /// Starts a job like `JobStore.startJob` and, in the same transaction, records `work` (its datums to run)
    /// and wakes the pipeline's workers. With `work` nil it only looks: returns the running job to take over,
    /// or nil having recorded nothing.
    func startJob(_ job: JobInfo, work: JobWork?, isAlive: @Sendable (JobInfo) -> Bool) async throws -> JobInfo?
    /// Records the work of a job that is already running (one taken over whose work was never recorded).
    func addWork(_ work: JobWork, to job: JobInfo) async throws
    /// Where a job's work stands; nil when none was recorded for it.
    func progress(job: String) async throws -> JobProgress?

    /// Claims up to `limit` waiting datums of `pipeline` for `worker`, oldest first, each under a new fencing
    /// token and a lease of `lease` seconds; rows other workers are claiming are skipped, not waited for.
    func claim(pipeline: String, worker: WorkerRecord, limit: Int, lease: Double) async throws -> [DatumClaim]
    /// The spec a job runs with (a pipeline updated meanwhile does not change a running job).
    func spec(job: String) async throws -> PipelineSpec?
    /// Records finished datums, each only if its claim still holds it (its token, not yet taken back), and
    /// claims up to `limit` more for `worker` (as `claim` does), in one transaction: a worker's round trip per
    /// batch. Returns the tokens accepted and the new claims. A job whose last datum this finishes wakes its
    /// coordinator.
    func complete(
        _ results: [DatumResult], by worker: WorkerRecord, claimingUpTo limit: Int, lease: Double
    )
        async throws -> (accepted: Set<Int64>, claims: [DatumClaim])
    /// Gives claims back unfinished (a worker stopping): other workers may take them at once.
    func release(_ claims: [DatumClaim]) async throws

    /// Registers a worker, or takes over the name of one whose heartbeat is older than `staleAfter` seconds;
    /// throws `worker-name-taken` while a live worker has it.
    func register(_ worker: WorkerRecord, staleAfter: Double) async throws
    /// The worker's heartbeat: extends the leases of the claims it still holds (by token) and records its
    /// state; returns the tokens it still holds (the others were taken back). Throws `worker-replaced` when
    /// another worker took the name over.
    func heartbeat(_ worker: WorkerRecord, holding tokens: [Int64], lease: Double) async throws -> Set<Int64>
    /// Removes a worker that stops.
    func unregister(_ worker: WorkerRecord) async throws
    /// Every registered worker with its claims and how long ago it was heard of, by pipeline and name.
    func workers() async throws -> [WorkerStatus]

    /// Takes or keeps the leadership named `role` for `ttl` seconds; returns the term when `holder` leads.
    func lead(_ role: String, holder: String, ttl: Double) async throws -> Int64?
    /// Returns the datums whose lease expired to the queue (or fails those whose leases have now run out
    /// `maxExpirations` times), if `holder` still leads `role` in `term`; returns how many were handled.
    func requeueExpired(role: String, holder: String, term: Int64, maxExpirations: Int) async throws -> Int
}

/// A job's datums to run, with what the job was planned from.
public struct JobWork: Sendable {
    /// The spec the datums run with.
    public var spec: PipelineSpec
    public var datums: [Datum]

    public init(spec: PipelineSpec, datums: [Datum]) {
        self.spec = spec
        self.datums = datums
    }
}

/// Where a job's recorded work stands.
public struct JobProgress: Sendable, Hashable {
    public var total: Int
    /// Datums not yet finished (waiting or claimed).
    public var remaining: Int
    public var failed: Int

    public init(total: Int, remaining: Int, failed: Int) {
        self.total = total
        self.remaining = remaining
        self.failed = failed
    }
}

/// A datum a worker claimed: the job's, under `token`.
public struct DatumClaim: Sendable, Hashable {
    public var job: String
    public var pipeline: String
    public var specHash: String
    public var datum: Datum
    /// The fencing token: only a result under it is accepted.
    public var token: Int64
    /// How many times the datum was claimed (1 the first time).
    public var claims: Int
}

/// A claimed datum's outcome, to record under its claim's token.
public struct DatumResult: Sendable {
    public var claim: DatumClaim
    public var record: DatumRecord

    public init(claim: DatumClaim, record: DatumRecord) {
        self.claim = claim
        self.record = record
    }
}

/// A worker as it registers and reports itself.
public struct WorkerRecord: Sendable, Hashable, Codable {
    /// Unique among live workers (`--name`, by default `host:pid`).
    public var name: String
    /// This run of the worker: what tells it from a later worker that took over its name.
    public var instance: String
    public var pipeline: String
    public var host: String
    public var version: String
    public var concurrency: Int
    /// What it is doing, in words (`running`, `waiting for the database`, `stopping`).
    public var state: String
    /// The last error it met, if any (an outage it waits out).
    public var lastError: String?

    public init(
        name: String, instance: String = UUID().uuidString, pipeline: String, host: String, version: String,
        concurrency: Int, state: String = "running", lastError: String? = nil
    ) {
        self.name = name
        self.instance = instance
        self.pipeline = pipeline
        self.host = host
        self.version = version
        self.concurrency = concurrency
        self.state = state
        self.lastError = lastError
    }
}

/// A registered worker as `vigil worker list` shows it.
public struct WorkerStatus: Sendable, Hashable, Codable {
    public var worker: WorkerRecord
    public var started: Date
    public var heartbeat: Date
    /// Seconds since its last heartbeat, by the database's clock.
    public var silentFor: Double
    /// Datums it holds now.
    public var claimed: Int
    /// Datums it finished since it started.
    public var finished: Int

    /// Silent for three default leases (30 s): presumed gone (killed, or cut off), its claims taken back.
    public var seemsGone: Bool { silentFor > 30 }
}

extension DatumQueue {
    /// Records finished datums and claims nothing more; returns the tokens accepted.
    public func complete(_ results: [DatumResult], by worker: WorkerRecord) async throws -> Set<Int64> {
        try await complete(results, by: worker, claimingUpTo: 0, lease: 0).accepted
    }
}
