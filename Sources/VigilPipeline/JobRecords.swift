import Foundation
import VigilStore

/// Where a job is in its life. `running` jobs whose engine died are resumed by the next engine to start.
public enum JobState: String, Sendable, Codable, CaseIterable {
    case running
    /// Every datum succeeded (or was already done); the output commit is made.
    case finished
    /// The output commit is made, but some datums failed after all their tries (see `vigil datum list JOB`).
    case finishedWithFailures = "finished-with-failures"
    /// The job could not run at all (an input repo is gone, a stage could not start); no output commit.
    case failed

    public var isDone: Bool { self != .running }
}

/// What a job did with its datums.
public struct JobCounts: Sendable, Hashable, Codable {
    /// Datums of the job's input commits that it considered (new ones in an incremental job, all in a full one).
    public var total = 0
    /// Datums run to success in this job.
    public var processed = 0
    /// Datums already done by an earlier job (same id in the output's datum index): not run again.
    public var skipped = 0
    /// Datums that failed after every try.
    public var failed = 0
    /// Datums of earlier jobs whose inputs are gone: their outputs were removed.
    public var removed = 0
    /// Datums finished before a crash and taken over when the job resumed: not run again.
    public var recovered = 0

    public init() {}
}

/// One run of a pipeline over given input commits, ending in one output commit.
public struct JobInfo: Sendable, Hashable, Codable {
    public var id: String
    public var pipeline: String
    public var specHash: String
    public var state: JobState
    /// The input commits this job reads, one per `pfs` input that has a commit, in spec order: the output
    /// commit's provenance.
    public var inputs: [CommitReference]
    /// The same, by input name (`/pfs/<name>`); an input whose branch has no commit yet is absent.
    public var inputCommits: [String: String]
    /// The output branch head the job started from (nil: the output repo was empty).
    public var baseOutput: String?
    /// The output commit, once made.
    public var output: String?
    /// Whether every datum is listed (a reprocess, a spec change) rather than only those the inputs' diff names.
    public var full: Bool
    /// Whether the output is recomputed from nothing, every datum run again (`vigil pipeline run --recompute`).
    /// Optional so that job records written before it existed still read.
    public var recompute: Bool?
    public var counts = JobCounts()
    public var error: String?
    /// Which process runs it (`host:pid`), and when it last said it is alive: how a crashed job is recognised.
    public var holder: String
    public var started: Date
    public var heartbeat: Date
    public var finished: Date?

    public init(
        id: String, pipeline: String, specHash: String, inputs: [CommitReference], inputCommits: [String: String],
        baseOutput: String?, full: Bool, holder: String, started: Date
    ) {
        self.id = id
        self.pipeline = pipeline
        self.specHash = specHash
        state = .running
        self.inputs = inputs
        self.inputCommits = inputCommits
        self.baseOutput = baseOutput
        self.full = full
        self.holder = holder
        self.started = started
        heartbeat = started
    }
}

/// What happened to one datum in one job.
public enum DatumState: String, Sendable, Codable, CaseIterable {
    case success
    case failed
}

/// One output file a datum wrote: its path in the output repo and what is there.
public struct OutputFile: Sendable, Hashable, Codable {
    public var path: String
    public var value: TreeValue

    public init(path: String, value: TreeValue) {
        self.path = path
        self.value = value
    }
}

/// The durable record of one datum of one job: enough to resume the job without running it again (its
/// outputs), and to tell a user why it failed (the error, the exit code, the end of its log).
public struct DatumRecord: Sendable, Hashable, Codable {
    public var job: String
    public var datum: String
    public var state: DatumState
    public var attempts: Int
    public var inputs: [DatumInput]
    public var outputs: [OutputFile]
    public var error: String?
    public var exitCode: Int32?
    /// The end (at most 64 KiB) of what the last attempt printed.
    public var log: String
    /// What, beyond the spec, determined the outputs (the stage's `identity`: a model's hash).
    public var identity: String?
    /// The worker that ran it, when a queued job's worker did (`vigil worker list` names it).
    public var worker: String?
    /// Its entry of the output's datum index, already stored by the worker that ran it (queued jobs: in a pack
    /// with the entries of the datums it recorded together), so the job's commit only links it.
    public var index: TreeValue?
    /// The datum's span, when tracing is on: its outputs carry it into the output commit (`CommitInfo.traces`).
    public var trace: TraceHeaders?
    public var started: Date
    public var finished: Date

    public init(
        job: String, datum: String, state: DatumState, attempts: Int, inputs: [DatumInput], outputs: [OutputFile],
        error: String? = nil, exitCode: Int32? = nil, log: String = "", started: Date, finished: Date
    ) {
        self.job = job
        self.datum = datum
        self.state = state
        self.attempts = attempts
        self.inputs = inputs
        self.outputs = outputs
        self.error = error
        self.exitCode = exitCode
        self.log = log
        self.started = started
        self.finished = finished
    }
}

/// A pipeline as stored: its parsed spec, the text it came from, and a version bumped by each update.
public struct PipelineRecord: Sendable, Hashable, Codable {
    public var spec: PipelineSpec
    public var source: String
    public var version: Int
    public var created: Date
    public var updated: Date
    /// Set by `vigil pipeline run`: the next job lists every datum, retrying failed ones.
    public var runRequested: Bool
    /// Set by `vigil pipeline run --recompute`: the next job runs every datum again from an empty output.
    public var recomputeRequested = false

    public init(spec: PipelineSpec, source: String, version: Int, created: Date, updated: Date, runRequested: Bool) {
        self.spec = spec
        self.source = source
        self.version = version
        self.created = created
        self.updated = updated
        self.runRequested = runRequested
    }

    public var name: String { spec.name }
}
