import Foundation
import Logging
import VigilStore

#if canImport(Glibc)
    import Glibc
#endif

/// What every part of the engine shares: the data, the engine's own records, the stages it can run, a scratch
/// folder for external commands, and who this engine is (for telling live jobs from crashed ones).
public struct EngineEnvironment: Sendable {
    public var store: VersionedStore
    public var jobs: any JobStore
    public var stages: StageRegistry
    /// Where external commands get their `/pfs` folders; on the blobs' filesystem so inputs can be hard links.
    public var scratch: URL
    public var logger: Logger
    /// `host:pid:instance` of this engine.
    public let holder: String
    /// How long a job's heartbeat may be silent before another host's engine takes the job over.
    public var staleAfter: TimeInterval = 30
    public var clock: @Sendable () -> Date = { Date() }
    /// The engine's own environment, of which external commands get only an allow-list and what their spec
    /// names (`transform.secrets`).
    public var processEnvironment: [String: String] = ProcessInfo.processInfo.environment
    /// How long a datum waits out an outage (S3, the disk, the database) before it is recorded as failed, and
    /// how its tries are spaced meanwhile.
    public var outageGrace: TimeInterval = 3600
    public var outageBackoff = Backoff(base: 0.5, maximum: 30)
    /// How a pipeline whose jobs cannot run for an outage, or whose last job left failed datums, is tried again:
    /// the n-th consecutive try waits `delay(after: n)`.
    public var stepRetry = Backoff(base: 1, maximum: 60)
    public var failedDatumRetry = Backoff(base: 60, maximum: 3600)
    /// Called with a running job's counts about twice a second (a CLI draws progress with it).
    public var progress: (@Sendable (JobInfo) -> Void)?
    /// Where datums are queued for workers on any host (a shared database); nil: this engine runs every datum
    /// itself, as the embedded default does.
    public var queue: (any DatumQueue)?
    /// With a queue: whether this process also runs workers for every pipeline (false: `--no-workers`, it only
    /// plans jobs and assembles their commits).
    public var runsWorkers = true
    /// How long a worker's claim on a datum lasts without a heartbeat (renewed every third of it).
    public var datumLease: Double = 10
    /// How often a worker or a waiting job looks at the queue when no notification came (the poll fallback).
    public var queuePoll: Double = 2
    /// Without a queue: whether a job of a stage that joins its upstream's commit (`Stage.joinsUpstreamCommit`)
    /// runs inside the upstream job, the two commits published as one (`PipelineEngine.handOff`). Off, every
    /// job waits for its input's commit (a benchmark's baseline).
    public var handsOff = true

    public init(
        store: VersionedStore, jobs: any JobStore, stages: StageRegistry = .builtIn, scratch: URL, logger: Logger
    ) {
        self.store = store
        self.jobs = jobs
        self.stages = stages
        self.scratch = scratch
        self.logger = logger
        holder = "\(Self.hostName):\(getpid()):\(UUID().uuidString.prefix(8))"
    }

    /// The embedded default beside a store opened with `VersionedStore.open(home:)`: the engine's database at
    /// `<home>/pipelines.sqlite`, scratch at `<home>/scratch`.
    public static func open(
        home: URL, store: VersionedStore, stages: StageRegistry = .builtIn, logger: Logger
    ) throws
        -> EngineEnvironment
    {
        try EngineEnvironment(
            store: store, jobs: try SQLiteJobStore.open(home: home), stages: stages, home: home, logger: logger)
    }

    /// An environment whose external commands get their folders under `<home>/scratch`.
    public init(
        store: VersionedStore, jobs: any JobStore, stages: StageRegistry, home: URL, logger: Logger
    ) throws {
        let scratch = home.appendingPathComponent("scratch")
        try? FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        self.init(store: store, jobs: jobs, stages: stages, scratch: scratch, logger: logger)
    }

    public static var hostName: String {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count - 1)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Whether the engine that holds `job` is still at work: a holder on this host is alive while its process
    /// is (and, for this process, while it has not let the job go); elsewhere, while its heartbeat is fresh.
    func isAlive(_ job: JobInfo) -> Bool {
        if job.holder.isEmpty { return false }
        if job.holder == holder { return true }
        let parts = job.holder.split(separator: ":")
        if parts.count == 3, String(parts[0]) == Self.hostName, let pid = Int32(parts[1]) {
            if pid == getpid() { return EngineRegistry.shared.isRunning(job.holder) }
            return kill(pid, 0) == 0 || errno == EPERM
        }
        return clock().timeIntervalSince(job.heartbeat) < staleAfter
    }
}
