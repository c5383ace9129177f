import Foundation
import VigilStore

/// The output commit of a queued job, made from its workers' records while they come in. A record's outputs
/// and index entry (stored by its worker) are linked in as soon as the record appears, and what is linked is
/// written into the commit's trees early whenever the rest of the job will take longer than that writing
/// does: the last datum then leaves only a few nodes to write, instead of every node the job touched. `finish`
/// takes in the last records and publishes the commit, once (`JobRunner.publish`).
struct JobAssembly {
    private var runner: JobRunner
    private var execution: JobRunner.Execution
    /// Where the next read of the job's records starts.
    private var position: Int64 = 0
    /// The datums whose records were taken in (staged, or failed for not fitting the commit).
    private var taken = Set<String>()
    /// Whether a worker's stored outputs are checked before they are linked, all at the end: a job taken over
    /// from another coordinator, whose outputs were not covered by this writer's lease all along (gc may have
    /// taken them).
    private let verifyingOutputs: Bool
    private var stagedSinceWrite = 0
    private var lastWrite = ContinuousClock.now
    private var lastWriteTook: Duration?

    /// How often staged records are written early, at most.
    static let writeInterval: Duration = .milliseconds(100)
    /// The first early write is made only when the rest of the job is expected to take at least this long
    /// (what it costs is not known yet; written early too late, it delays the end), each later one only
    /// while the rest takes at least twice what the last one took.
    static let timeLeftForTheFirstWrite: Duration = .milliseconds(500)

    /// Starts the commit of `job` on `writer` (opened before its datums were queued): removes what its gone
    /// datums made.
    init(
        runner: JobRunner, job: JobInfo, prepared: JobRunner.Prepared, writer: CommitWriter, verifyingOutputs: Bool
    ) async throws {
        var job = job
        job.counts.processed = 0
        job.counts.failed = 0
        self.runner = runner
        self.verifyingOutputs = verifyingOutputs
        execution = JobRunner.Execution(runner: runner, job: job, writer: writer, base: prepared.base, resumed: [:])
        try await execution.removeStale(mode: prepared.mode, delta: prepared.delta, planner: prepared.planner)
    }

    /// Takes in the records finished since the last call, and writes what is staged into the commit's trees
    /// when `progress` (made over `elapsed`) says the rest of the job will take longer than that. Returns how
    /// many records came in.
    @discardableResult
    mutating func takeIn(_ progress: JobProgress, elapsed: Duration) async throws -> Int {
        // A taken-over job's records are all checked and taken in at the end: checked now, what was stored
        // before this writer's lease could still be collected before the commit.
        if verifyingOutputs { return 0 }
        let (records, next) = try await runner.environment.jobs.successfulDatums(job: execution.job.id, after: position)
        position = next
        try await take(records)
        let done = progress.total - progress.remaining
        guard stagedSinceWrite > 0, done > 0, progress.remaining > 0,
            // While more datums remain than a node has children, the final write touches every node anyway.
            progress.remaining <= TreeStore.nodeFanOut,
            lastWrite.duration(to: .now) >= Self.writeInterval
        else { return records.count }
        let timeLeft = elapsed * (Double(progress.remaining) / Double(done))
        guard timeLeft >= lastWriteTook.map({ $0 * 2 }) ?? Self.timeLeftForTheFirstWrite else {
            return records.count
        }
        let started = ContinuousClock.now
        try await execution.writer.applyStaged()
        lastWrite = .now
        lastWriteTook = started.duration(to: lastWrite)
        stagedSinceWrite = 0
        return records.count
    }

    /// Takes in the last records and publishes the commit for `job` (as the caller kept it while waiting), of
    /// whose queued datums `progress.failed` failed on their workers.
    mutating func finish(_ job: JobInfo, progress: JobProgress) async throws -> JobInfo {
        let (records, _) = try await runner.environment.jobs.successfulDatums(job: job.id, after: position)
        try await take(records)
        // A record committed while an earlier read ran can sit behind the position: the count tells.
        if taken.count < progress.total - progress.failed {
            let all = try await runner.environment.jobs.successfulDatums(job: job.id)
            try await take(all.values.filter { !taken.contains($0.datum) }.sorted { $0.datum < $1.datum })
        }
        var final = job
        final.counts.processed = execution.job.counts.processed
        final.counts.removed = execution.job.counts.removed
        final.counts.failed = progress.failed + execution.job.counts.failed
        execution.job = final
        return try await runner.publish(&execution)
    }

    /// Links the outputs and index entries of datums workers recorded as successful; a datum whose outputs are
    /// gone (a gc) or do not fit the commit is recorded as failed instead, with the reason.
    private mutating func take(_ records: [DatumRecord]) async throws {
        let fresh = records.filter { !taken.contains($0.datum) }
        guard !fresh.isEmpty else { return }
        if runner.stageIdentity == nil, let identity = fresh.lazy.compactMap(\.identity).first {
            runner.stageIdentity = identity
        }
        let missing = verifyingOutputs ? try await Self.missingOutputs(fresh, in: runner.environment.store) : []
        let sideInputs = runner.pipeline.spec.input.sideInputs
        for var record in fresh {
            taken.insert(record.datum)
            let datum = Datum(inputs: record.inputs, specHash: execution.job.specHash, sideInputs: sideInputs)
            var failure: String?
            if datum.id != record.datum {
                failure = "its record does not match its inputs (datum \(datum.id))"
            } else if missing.contains(record.datum) {
                failure =
                    "its outputs were removed (by gc?) before the job could commit them; the next job runs it again"
            } else {
                do {
                    try await execution.stage(datum, record)
                } catch let error as VigilError where !Outage.isOutage(error) {
                    failure = "its outputs do not fit the output commit: \(error.description)"
                }
            }
            guard let failure else {
                execution.job.counts.processed += 1
                execution.noteTrace(of: record)
                stagedSinceWrite += 1
                continue
            }
            record.state = .failed
            record.error = failure
            execution.job.counts.failed += 1
            execution.pending.append(record)
        }
    }

    /// The datums (by id) whose stored outputs or index entry are gone, looked up a few at a time.
    static func missingOutputs(_ records: [DatumRecord], in store: VersionedStore) async throws -> Set<String> {
        let missing = try await records.concurrentMap(width: 16) { record -> String? in
            let hashes = record.outputs.map(\.value.hash) + (record.index.map { [$0.hash] } ?? [])
            for hash in hashes where try await !store.blobs.contains(hash) { return record.datum }
            return nil
        }
        return Set(missing.compactMap { $0 })
    }
}
