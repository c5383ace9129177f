import Foundation
import Logging
import Metrics
import Tracing
import VigilStore

/// Runs one job of a pipeline to its output commit: removes the outputs of datums whose inputs are gone, runs
/// every new datum on the pipeline's workers (retrying, timing out), and publishes outputs and datum index as one
/// commit whose provenance names the input commits and the spec. Datum records are written in batches as datums
/// finish, so a job whose engine dies is resumed without running its finished datums again.
struct JobRunner {
    let environment: EngineEnvironment
    let pipeline: PipelineRecord
    let workers: [any Stage]
    /// What, beyond the spec, determined the outputs (a model's hash), for the output commit's provenance.
    var stageIdentity: String?
    /// A job that only tries failed datums again: when none succeeds it makes no commit.
    var retryingFailures = false
    /// Asked before each datum is started: true once the engine is shutting down.
    let shouldStop: @Sendable () -> Bool
    /// When the engine's step that started this job began to read its inputs: the frames' "job start" spans
    /// run from there to each datum's start (reads, the job's record, its plan and its output commit opened).
    var stepStarted: Date?
    /// The job's record, when it is written beside the job's start (`JobRecording`, written by `run`): waited
    /// for before the job's other writes and its output commit. Nil when it was written before the job began.
    var recording: JobRecording?
    /// Input commits prepared but not yet published, by id: a handed-off job reads its upstream's this way.
    var pendingInputs: [String: CommitInfo] = [:]
    /// Plans a downstream job beside this job's datums and, at the end, runs it on this job's output commit and
    /// publishes the two together (`PipelineEngine.handOff`); nil: the commit is published alone.
    var handOff: HandOff?
    /// Whether datum records wait for the job's end instead of being written as datums finish: a handed-off
    /// job's, whose record is written only once its commit is published.
    var defersRecords = false

    /// How many finished datums, or how long, before their records are written.
    static let recordBatch = 256
    static let recordInterval: TimeInterval = 0.5
    static let heartbeatInterval: TimeInterval = 5

    var store: VersionedStore { environment.store }
    var spec: PipelineSpec { pipeline.spec }

    /// Runs `job` (new, or taken over after a crash with the datums it had finished). Returns the job as it
    /// ended: finished (with or without failures), or still `running` with no holder when the engine stopped
    /// first.
    /// `output` and `outputState` are the output head and its state as the caller read them (not read again).
    func run(
        _ job: JobInfo, output: CommitInfo? = nil, outputState: DatumIndex.State? = nil,
        resumed: [String: DatumRecord] = [:]
    ) async throws -> JobInfo {
        var job = job
        // The output commit is opened (a lease, or a branch read) while the job's inputs are read (the commit
        // cache, or the database's readers), and a new job's record is written beside both: none waits for
        // another. Opening first: it is what the first datum waits for. The record's write is awaited on every
        // way out, never cancelled half-way.
        async let opening = openOutput()
        async let written: Void = { [recording] in await recording?.write() }()
        let ended: Result<JobInfo, any Error>
        do {
            let prepared: Prepared
            do {
                prepared = try await prepare(&job, output: output, outputState: outputState)
            } catch {
                if let writer = try? await opening { await writer.abandon() }
                throw error
            }
            ended = .success(try await execute(job, writer: try await opening, prepared: prepared, resumed: resumed))
        } catch {
            ended = .failure(error)
        }
        await written
        return try ended.get()
    }

    /// Runs a prepared job's datums into `writer`'s commit and publishes it (or stops at a datum boundary).
    private func execute(
        _ job: JobInfo, writer: CommitWriter, prepared: Prepared, resumed: [String: DatumRecord]
    ) async throws -> JobInfo {
        var execution = Execution(
            runner: self, job: job, writer: writer, base: prepared.base, resumed: resumed, traces: prepared.traces)
        // The downstream job's reads run beside the datums (a detector's take tens of milliseconds).
        async let planned = retryingFailures ? nil : handOff?.plan(job, writer)
        do {
            try await execution.removeStale(mode: prepared.mode, delta: prepared.delta, planner: prepared.planner)
            try await execution.processDatums(mode: prepared.mode, delta: prepared.delta, planner: prepared.planner)
        } catch {
            await writer.abandon()
            try? await execution.flushRecords()
            throw error
        }
        if execution.stopped {
            await writer.abandon()
            var job = execution.job
            job.holder = ""
            try await recorded()
            try await environment.jobs.finishJob(job, records: execution.takePending())
            environment.logger.info(
                "job stopped at a datum boundary; it resumes when the engine starts again",
                metadata: ["pipeline": "\(spec.name)", "job": "\(job.id)"])
            return job
        }
        return try await publish(&execution, handingOff: await planned)
    }

    /// Returns once the job's record is written (at once when it was before the job began).
    func recorded() async throws {
        try await recording?.wait()
    }

    /// A commit on the pipeline's output repo, by the pipeline.
    func openOutput() async throws -> CommitWriter {
        try await store.openCommit(repo: spec.name, author: "pipeline:\(spec.name)")
    }

    /// What a job reads and starts from, and how it decides its datums.
    struct Prepared {
        var planner: JobPlanner
        var mode: JobPlanner.Mode
        var delta: JobPlanner.Delta?
        var base: CommitInfo?
        var traces = JobTraces()
    }

    /// Reads the job's input commits and base output and decides how it lists its datums (`job.full` says).
    /// `output` and `outputState` are the output head and its state as the caller read them (not read again).
    func prepare(_ job: inout JobInfo, output: CommitInfo?, outputState: DatumIndex.State?) async throws -> Prepared {
        var current: [String: CommitInfo] = [:]
        for (name, id) in job.inputCommits {
            let found = if let pending = pendingInputs[id] { pending } else { try await store.commit(id: id) }
            guard let commit = found else {
                throw PipelineError(
                    .io, "job \(job.id): input commit \(id) of '\(name)' no longer exists (was its repo deleted?)",
                    value: id)
            }
            current[name] = commit
        }
        // The output head the caller read is the job's base unless the job is an older one being resumed.
        let reuse = output?.id == job.baseOutput
        var base = reuse ? output : nil
        if base == nil, let id = job.baseOutput { base = try await store.resolveCommit(spec.name, ref: id) }
        let baseState = reuse ? outputState : try await DatumIndex.state(of: base, in: store)
        var previous: [String: CommitInfo] = [:]
        var previousComplete = true
        for (name, id) in baseState?.inputs ?? [String: String]() {
            if let commit = try await store.commit(id: id) {
                previous[name] = commit
            } else {
                previousComplete = false
            }
        }
        let planner = JobPlanner(
            store: store, spec: spec, specHash: job.specHash, current: current, base: base, baseState: baseState,
            previous: previous)
        var mode = job.recompute == true ? .rebuild : planner.mode(forceFull: job.full || !previousComplete)
        var delta: JobPlanner.Delta?
        if mode == .delta {
            delta = try await planner.delta()
            if delta == nil { mode = .full }
        }
        job.full = mode != .delta
        let traces = await JobTraces.gather(current: current, previous: previous, store: store)
        return Prepared(planner: planner, mode: mode, delta: delta, base: base, traces: traces)
    }

    /// Makes the job's output commit from what `execution` staged (none when a retry of failures changed
    /// nothing), then records the job as finished. The commit is made once: if the head moved to a commit
    /// that already holds this job's output (a coordinator that died after committing, or one that was
    /// thought dead), that one stands.
    func publish(
        _ execution: inout Execution, handingOff planned: PipelineEngine.PlannedHandOff? = nil
    ) async throws -> JobInfo {
        var job = execution.job
        let writer = execution.writer
        do {
            try await recorded()
        } catch {
            await writer.abandon()
            throw error
        }
        let output: String
        if retryingFailures, let base = execution.base, job.counts.processed == 0, job.counts.removed == 0,
            job.counts.recovered == 0
        {
            // Nothing changed: the output stays as it is, and nothing downstream is woken.
            await writer.abandon()
            output = base.id
        } else {
            let state = DatumIndex.State(
                job: job.id, specHash: job.specHash, inputs: job.inputCommits, counts: job.counts)
            do {
                try await writer.putMeta(DatumIndex.statePath, data: try DatumIndex.encode(state))
            } catch {
                // Not left open: its lease would hold gc back until it expired.
                await writer.abandon()
                throw error
            }
            let jobID = job.id
            let store = self.store
            let already = SentValue<CommitInfo>()
            var made: CommitInfo?
            if let handOff, let planned {
                let (message, provenance) = (message(of: job), provenance(of: job))
                made = await handOff.make(
                    planned,
                    HandOffOffer(job: job, writer: writer) {
                        try await writer.prepare(message: message, provenance: provenance)
                    })?.first
            }
            if made == nil {
                made = try await writer.finish(
                    message: message(of: job), provenance: provenance(of: job),
                    rebasingOnto: { head in
                        guard try await DatumIndex.state(of: head, in: store)?.job == jobID else { return true }
                        already.set(head)
                        return false
                    })
            }
            // Ends when the head has moved: the commit's own time is stamped before its head is written.
            let published = Date()
            guard let commit = made ?? already.value else {
                throw PipelineError(.io, "job \(job.id): its output commit vanished", value: job.id)
            }
            // The next step reads this state from the new head: it is known already.
            if let made { DatumIndex.remember(state, of: made) }
            output = commit.id
            for (headers, finished) in execution.traced {
                let span = startSpan(
                    "output commit \(spec.name)", at: WallClockInstant(finished), context: headers.context)
                span.attributes["vigil.commit"] = "\(spec.name)@\(commit.id)"
                span.end(at: WallClockInstant(published))
            }
        }
        // The last datum records go with the job's final state, after the commit: off the path to the next
        // stage, which the commit has already started. A crash before this write loses only those records: the
        // commit's datum index names the job, and the next engine marks it finished (`PipelineEngine.step`).
        try await Self.end(&job, output: output, records: execution.takePending(), environment: environment)
        return job
    }

    /// Ends `job` with its output commit (finished, with or without failures, by its counts) and writes its
    /// record with its last datum records.
    static func end(
        _ job: inout JobInfo, output: String, records: [DatumRecord], environment: EngineEnvironment
    ) async throws {
        job.output = output
        job.state = job.counts.failed > 0 ? .finishedWithFailures : .finished
        job.finished = environment.clock()
        job.heartbeat = job.finished!
        try await environment.jobs.finishJob(job, records: records)
        count(job)
        environment.logger.info(
            "job finished",
            metadata: [
                "pipeline": "\(job.pipeline)", "job": "\(job.id)", "state": "\(job.state.rawValue)",
                "processed": "\(job.counts.processed)", "failed": "\(job.counts.failed)",
                "removed": "\(job.counts.removed)", "output": "\(output)",
            ])
    }

    /// The output commit's message.
    func message(of job: JobInfo) -> String {
        "job \(job.id): \(job.counts.processed) datums processed, \(job.counts.failed) failed, "
            + "\(job.counts.removed) removed"
    }

    /// The output commit's provenance: the job's inputs, and the spec and stage that made it.
    func provenance(of job: JobInfo) -> Provenance {
        var origin = "pipeline:\(spec.name) spec=\(job.specHash)"
        if let identity = stageIdentity ?? workers.first?.identity { origin += " " + identity }
        return Provenance(inputs: job.inputs, origin: origin)
    }

    private static func count(_ job: JobInfo) {
        let dimensions = [("pipeline", job.pipeline)]
        Counter(label: "vigil_pipeline_jobs_total", dimensions: dimensions + [("state", job.state.rawValue)])
            .increment()
        for (outcome, value) in [
            ("processed", job.counts.processed), ("failed", job.counts.failed), ("skipped", job.counts.skipped),
            ("removed", job.counts.removed), ("recovered", job.counts.recovered),
        ] where value > 0 {
            Counter(label: "vigil_pipeline_datums_total", dimensions: dimensions + [("outcome", outcome)])
                .increment(by: Int64(value))
        }
    }

    // MARK: One datum

    /// What became of a datum on a worker.
    enum Outcome: Sendable {
        case success(Datum, DatumRecord)
        case failure(Datum, DatumRecord)
        /// The engine stopped while it ran: not done, not failed; the resumed job runs it again.
        case interrupted
    }

    /// Runs a datum up to `datumTries` times, each attempt within its time-out. An outage (the store, the disk
    /// or the database unavailable) is not the datum's fault: the attempt is tried again with backoff, without
    /// using up a try, for up to `outageGrace`; the job resumes by itself when the outage ends. Never throws.
    static func process(
        _ datum: Datum, on stage: any Stage, job: String, spec: PipelineSpec, environment: EngineEnvironment,
        shouldStop: @Sendable () -> Bool
    ) async -> Outcome {
        guard TraceHeaders.isTracing else {
            return await attempts(
                datum, on: stage, job: job, spec: spec, environment: environment, shouldStop: shouldStop)
        }
        // The frame's trace goes on: its wait from the input's commit to here, then the datum's own span, whose
        // headers its outputs carry to the next stage.
        let parent = datum.trace?.headers.context ?? .current ?? .topLevel
        if let trace = datum.trace {
            let queued = startSpan("queued \(spec.name)", at: WallClockInstant(trace.committed), context: parent)
            queued.end()
        }
        return await withSpan("datum \(spec.name)", context: parent, ofKind: .consumer) { span in
            span.attributes["vigil.datum"] = datum.id
            span.attributes["vigil.job"] = job
            var outcome = await attempts(
                datum, on: stage, job: job, spec: spec, environment: environment, shouldStop: shouldStop)
            switch outcome {
            case .success(let datum, var record):
                record.trace = TraceHeaders.capture()
                outcome = .success(datum, record)
            case .failure(_, let record):
                span.setStatus(SpanStatus(code: .error, message: record.error))
            case .interrupted: break
            }
            return outcome
        }
    }

    private static func attempts(
        _ datum: Datum, on stage: any Stage, job: String, spec: PipelineSpec, environment: EngineEnvironment,
        shouldStop: @Sendable () -> Bool
    ) async -> Outcome {
        let clock = environment.clock
        let started = clock()
        var failure: (message: String, exitCode: Int32?, log: String) = ("", nil, "")
        var number = 1
        var outage: (since: Date, waits: Int)?
        while number <= spec.datumTries {
            let context = DatumContext(datum: datum, job: job, attempt: number, store: environment.store)
            do {
                try await attempt(stage, context, timeout: spec.effectiveDatumTimeout)
                var record = DatumRecord(
                    job: job, datum: datum.id, state: .success, attempts: number, inputs: datum.inputs,
                    outputs: context.outputs, log: context.logText, started: started, finished: clock())
                record.identity = stage.identity
                return .success(datum, record)
            } catch {
                if Task.isCancelled { return .interrupted }
                if isOutage(error) {
                    var current = outage ?? (clock(), 0)
                    if clock().timeIntervalSince(current.since) < environment.outageGrace {
                        current.waits += 1
                        outage = current
                        let delay = environment.outageBackoff.delay(after: current.waits)
                        environment.logger.warning(
                            "datum waits for an outage to end",
                            metadata: [
                                "pipeline": "\(spec.name)", "datum": "\(datum.id)", "error": "\(error)",
                                "retry_in_s": "\(String(format: "%.1f", delay))",
                            ])
                        guard await pause(delay, shouldStop: shouldStop) else { return .interrupted }
                        continue
                    }
                }
                outage = nil
                switch error {
                case let command as CommandFailure: failure = (command.message, command.exitCode, context.logText)
                case let pipeline as PipelineError: failure = (pipeline.description, nil, context.logText)
                case let store as VigilError: failure = (store.description, nil, context.logText)
                default: failure = ("\(error)", nil, context.logText)
                }
                number += 1
            }
        }
        return .failure(
            datum,
            DatumRecord(
                job: job, datum: datum.id, state: .failed, attempts: spec.datumTries, inputs: datum.inputs, outputs: [],
                error: failure.message, exitCode: failure.exitCode, log: failure.log, started: started,
                finished: clock()))
    }

    /// An error of the infrastructure rather than of the datum (a command's own failure never is).
    static func isOutage(_ error: any Error) -> Bool {
        if error is CommandFailure { return false }
        if let error = error as? PipelineError { return error.code == .io }
        return Outage.isOutage(error)
    }

    /// Sleeps `seconds`, a second at a time so that a stop request is seen; false when stopped or cancelled.
    static func pause(_ seconds: Double, shouldStop: @Sendable () -> Bool) async -> Bool {
        var left = seconds
        while left > 0 {
            if shouldStop() || Task.isCancelled { return false }
            let step = min(left, 1)
            do { try await Task.sleep(for: .seconds(step)) } catch { return false }
            left -= step
        }
        return !shouldStop()
    }

    private static func attempt(_ stage: any Stage, _ context: DatumContext, timeout: Double) async throws {
        guard stage.endsWhenCancelled else {
            // A cancelled attempt would run to its end all the same, so the time-out is read once it has: the
            // same failure, without a timer task and two more hops between threads for every datum.
            let started = ContinuousClock.now
            let outcome: Result<Void, any Error>
            do { outcome = .success(try await stage.process(context)) } catch { outcome = .failure(error) }
            if ContinuousClock.now - started > .seconds(timeout) { throw timedOut(timeout) }
            return try outcome.get()
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await stage.process(context) }
            group.addTask {
                // Nearly always cancelled long before the deadline: a sleep that frees its timer then.
                try await ReleasingSleep.sleep(for: .seconds(timeout))
                throw timedOut(timeout)
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }

    private static func timedOut(_ timeout: Double) -> PipelineError {
        PipelineError(.timeout, "the datum took longer than its datumTimeout of \(timeout) s")
    }
}

extension JobRunner {
    /// The mutable part of a running job: counts, pending records, the output commit being built.
    struct Execution {
        let runner: JobRunner
        var job: JobInfo
        let writer: CommitWriter
        let base: CommitInfo?
        let resumed: [String: DatumRecord]
        let traces: JobTraces
        /// Datums processed whose outputs carry a trace, and when each finished: each trace gets a span for the
        /// wait for the output commit once it is made.
        var traced: [(headers: TraceHeaders, finished: Date)] = []
        /// Records not yet written (a queued job's: datums whose outputs did not fit the commit).
        var pending: [DatumRecord] = []
        var lastFlush = Date()
        var lastHeartbeat = Date()
        var stopped = false

        init(
            runner: JobRunner, job: JobInfo, writer: CommitWriter, base: CommitInfo?, resumed: [String: DatumRecord],
            traces: JobTraces = JobTraces()
        ) {
            self.runner = runner
            self.job = job
            self.writer = writer
            self.base = base
            self.resumed = resumed
            self.traces = traces
        }

        private var store: VersionedStore { runner.environment.store }

        // MARK: Removing

        mutating func removeStale(
            mode: JobPlanner.Mode, delta: JobPlanner.Delta?, planner: JobPlanner
        ) async throws {
            switch mode {
            case .rebuild:
                // A new spec (or no usable index): the output is recomputed from nothing.
                if let base, base.tree.files > 0 || base.meta != nil {
                    job.counts.removed = try await store.listMeta(base, "/datums").count
                    try await writer.delete("/")
                    try await writer.deleteMeta("/")
                }
            case .full:
                var stale: [DatumIndex.Entry] = []
                try await planner.staleEntries { stale.append($0) }
                for entry in stale { try await remove(entry) }
            case .delta:
                let sideInputs = runner.spec.input.sideInputs
                let ids = (delta?.removed ?? []).map {
                    Datum(inputs: $0, specHash: job.specHash, sideInputs: sideInputs).id
                }
                // Each entry is a blob to read (a round trip on S3): read side by side, removed in order.
                let base = self.base
                let store = self.store
                let entries = try await ids.concurrentMap(width: 32) {
                    try await DatumIndex.entry($0, in: base, store: store)
                }
                for entry in entries.compactMap({ $0 }) { try await remove(entry) }
            }
        }

        /// Removes a gone datum's outputs (where they still hold what it wrote) and its index entry.
        private mutating func remove(_ entry: DatumIndex.Entry) async throws {
            for output in entry.outputs {
                if let found = try await store.trees.lookup(output.path, in: base?.tree ?? TreeStore.emptyRoot),
                    found.hash == output.value.hash
                {
                    try await writer.delete(output.path)
                }
            }
            try await writer.deleteMeta(DatumIndex.path(of: entry.datum))
            job.counts.removed += 1
        }

        // MARK: Processing

        mutating func processDatums(
            mode: JobPlanner.Mode, delta: JobPlanner.Delta?, planner: JobPlanner
        ) async throws {
            let workers = runner.workers
            let jobID = job.id
            let spec = runner.spec
            let store = self.store
            let environment = runner.environment
            let shouldStop = runner.shouldStop
            try await withThrowingTaskGroup(of: (Int, Outcome).self) { group in
                var free = Array(workers.indices.reversed())
                // Finished datums whose outputs are not yet staged: a freed worker gets its next datum first,
                // then these are staged while it runs (staging took a worker's idle gap between datums).
                var finished: [Outcome] = []

                func collectOne() async throws {
                    guard let (worker, outcome) = try await group.next() else { return }
                    free.append(worker)
                    finished.append(outcome)
                }

                func handleFinished() async throws {
                    while !finished.isEmpty { try await handle(finished.removeFirst()) }
                }

                func dispatch(_ datum: Datum) async throws {
                    let datum = traces.traced(datum)
                    if runner.shouldStop() { throw StopRequested() }
                    job.counts.total += 1
                    if mode != .rebuild, try await DatumIndex.contains(datum.id, in: base, store: store) {
                        job.counts.skipped += 1
                        return try await handleFinished()
                    }
                    if let record = resumed[datum.id], try await outputsExist(record) {
                        try await stage(datum, record)
                        job.counts.recovered += 1
                        return try await handleFinished()
                    }
                    while free.isEmpty { try await collectOne() }
                    // Waiting for a worker can outlast a stop request: check again before starting.
                    if runner.shouldStop() {
                        job.counts.total -= 1
                        throw StopRequested()
                    }
                    let worker = free.removeLast()
                    let stage = workers[worker]
                    if let trace = datum.trace, let started = runner.stepStarted {
                        // A step that began before the input's commit was stamped (woken by something else) read
                        // it anyway: the frame's wait for its job starts no earlier than its input.
                        let span = startSpan(
                            "job start \(spec.name)", at: WallClockInstant(max(started, trace.committed)),
                            context: trace.headers.context)
                        span.attributes["vigil.job"] = jobID
                        span.end()
                    }
                    group.addTask {
                        (
                            worker,
                            await JobRunner.process(
                                datum, on: stage, job: jobID, spec: spec, environment: environment,
                                shouldStop: shouldStop)
                        )
                    }
                    try await handleFinished()
                }

                do {
                    if mode == .delta {
                        for inputs in delta?.added ?? [] {
                            try await dispatch(
                                Datum(inputs: inputs, specHash: job.specHash, sideInputs: spec.input.sideInputs))
                        }
                    } else {
                        try await planner.forEachDatum(dispatch)
                    }
                } catch is StopRequested {
                    stopped = true
                }
                try await handleFinished()
                while !group.isEmpty {
                    try await collectOne()
                    try await handleFinished()
                }
            }
        }

        private mutating func handle(_ outcome: Outcome) async throws {
            switch outcome {
            case .success(let datum, var record):
                do {
                    try await stage(datum, record)
                    job.counts.processed += 1
                    noteTrace(of: record)
                } catch let error as VigilError where !Outage.isOutage(error) {
                    // Outputs that cannot live together (a file where another datum made a folder); an outage
                    // is not the datum's fault and ends the job, to be resumed.
                    record.state = .failed
                    record.error = "its outputs do not fit the output commit: \(error.description)"
                    job.counts.failed += 1
                }
                pending.append(record)
            case .failure(let datum, let record):
                job.counts.failed += 1
                pending.append(record)
                runner.environment.logger.warning(
                    "datum failed",
                    metadata: [
                        "pipeline": "\(job.pipeline)", "job": "\(job.id)", "datum": "\(datum.id)",
                        "error": "\(record.error ?? "")",
                    ])
            case .interrupted:
                stopped = true
            }
            try await flushIfDue()
        }

        /// Stages a finished datum's outputs and its index entry into the output commit.
        func stage(_ datum: Datum, _ record: DatumRecord) async throws {
            for output in record.outputs {
                try await writer.set(output.path, to: output.value)
                await writer.trace(output.path, record.trace)
            }
            // A queued datum's worker stored its index entry already; only linked here.
            if let index = record.index {
                return try await writer.setMeta(DatumIndex.path(of: datum.id), to: index)
            }
            let entry = DatumIndex.entry(datum, job: job.id, outputs: record.outputs)
            try await writer.putMeta(DatumIndex.path(of: datum.id), data: try DatumIndex.encode(entry))
        }

        /// Remembers a staged datum's trace, for its span of the wait for the output commit.
        mutating func noteTrace(of record: DatumRecord) {
            guard let trace = record.trace, traced.count < CommitWriter.maxTraces else { return }
            traced.append((trace, record.finished))
        }

        /// Whether a resumed datum's outputs survived (a gc after the crash may have taken them).
        func outputsExist(_ record: DatumRecord) async throws -> Bool {
            for output in record.outputs where try await !store.blobs.contains(output.value.hash) { return false }
            return true
        }

        // MARK: Records

        private mutating func flushIfDue() async throws {
            guard !runner.defersRecords else { return }
            let now = Date()
            if pending.count >= JobRunner.recordBatch || now.timeIntervalSince(lastFlush) >= JobRunner.recordInterval {
                try await flushRecords()
            }
            if now.timeIntervalSince(lastHeartbeat) >= JobRunner.heartbeatInterval {
                lastHeartbeat = now
                job.heartbeat = runner.environment.clock()
                try await runner.recorded()
                try await runner.environment.jobs.updateJob(job)
            }
        }

        /// The records not yet written, now taken out (the caller writes them), after telling `progress`.
        mutating func takePending() -> [DatumRecord] {
            runner.environment.progress?(job)
            defer { pending.removeAll() }
            return pending
        }

        mutating func flushRecords() async throws {
            lastFlush = Date()
            runner.environment.progress?(job)
            guard !pending.isEmpty else { return }
            try await runner.recorded()
            try await runner.environment.jobs.recordDatums(pending)
            pending.removeAll(keepingCapacity: true)
        }
    }

    private struct StopRequested: Error {}
}
