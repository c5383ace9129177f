import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import VigilStore

/// Runs every pipeline's jobs as data arrives. A commit finished on an input branch starts the downstream job
/// at once: commits made in this process arrive through the store's commit feed, commits of other processes
/// (a `vigil put` beside a running service, a worker on another host) through the change feed. Commits that arrive while a
/// job runs are batched into the next one. Each pipeline runs its own jobs with its own workers, so stages run
/// in parallel with each other.
///
/// On graceful shutdown, running jobs stop at a datum boundary and are resumed, without redoing finished
/// datums, when an engine starts again; so are the jobs of an engine that was killed.
public final class PipelineEngine: Service, Sendable {
    public let environment: EngineEnvironment
    /// Where other processes' commits are heard of (nil: this process's commits only).
    let changeFeed: (any ChangeFeed)?
    private let stopping = Atomic<Bool>(false)
    /// Where `run()` takes its events from, while it runs.
    private let events = Mutex<AsyncStream<Event>.Continuation?>(nil)
    let workers: WorkerCache
    /// Jobs waiting for their queued datums, woken when the last is done.
    let waitingJobs = Mutex<[String: WakeSignal]>([:])
    /// The in-process workers, by pipeline (with a queue, unless `runsWorkers` is off).
    let localWorkers = Mutex<[String: DatumWorker]>([:])
    /// The pipelines as last read (at start and whenever they change): where a job looks for the pipeline to
    /// hand its output commit to (`handOff`), whose record it then reads afresh.
    let knownPipelines = Mutex<[PipelineRecord]>([])
    /// Commits whose downstream job ran inside the job that made them (`handOff`), as "pipeline commit": the
    /// commit's arrival does not step that pipeline, which would find nothing to do.
    let handedOff = Mutex<Set<String>>([])

    public init(environment: EngineEnvironment, changes: (any ChangeFeed)? = nil) {
        self.environment = environment
        changeFeed = changes
        workers = WorkerCache(environment: environment)
    }

    private enum Event: Sendable {
        case commit(CommitInfo)
        /// Something changed in another process: what, where the feed knows.
        case external(Change)
        case stop
    }

    // MARK: Service

    /// Runs until cancelled or shut down gracefully.
    public func run() async throws {
        EngineRegistry.shared.add(environment.holder)
        defer { EngineRegistry.shared.remove(environment.holder) }
        let (events, sink) = AsyncStream.makeStream(of: Event.self)
        self.events.withLock { $0 = sink }
        defer { self.events.withLock { $0 = nil } }
        if stopping.load(ordering: .relaxed) { return }
        let feed = environment.store.commits.subscribe()
        let changeFeed = changeFeed
        environment.logger.info("pipeline engine started", metadata: ["holder": "\(environment.holder)"])
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { sources in
                sources.addTask {
                    for await commit in feed { sink.yield(.commit(commit)) }
                }
                sources.addTask {
                    await changeFeed?.watch { sink.yield(.external($0)) }
                }
                if let queue = environment.queue {
                    let keeper = LeaseKeeper(
                        queue: queue, holder: environment.holder, logger: environment.logger,
                        lease: environment.datumLease)
                    sources.addTask { await keeper.run() }
                }
                try await self.dispatch(events)
                sources.cancelAll()
            }
        } onGracefulShutdown: {
            self.stopGracefully()
        }
        environment.logger.info("pipeline engine stopped")
    }

    /// Routes events to one controller task per pipeline; returns when told to stop and every controller has
    /// reached a datum boundary.
    private func dispatch(_ events: AsyncStream<Event>) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var triggers: [String: (inputs: Set<String>, trigger: AsyncStream<Void>.Continuation)] = [:]

            func reconcile() async throws {
                let records = try await environment.jobs.pipelines()
                knownPipelines.withLock { $0 = records }
                let names = Set(records.map(\.name))
                for (name, controller) in triggers where !names.contains(name) {
                    controller.trigger.finish()
                    triggers[name] = nil
                    localWorkers.withLock { $0.removeValue(forKey: name) }?.stop()
                }
                if let queue = environment.queue, environment.runsWorkers {
                    for record in records where localWorkers.withLock({ $0[record.name] == nil }) {
                        let worker = localWorker(of: record.name, concurrency: record.spec.parallelism, on: queue)
                        localWorkers.withLock { $0[record.name] = worker }
                        group.addTask { await self.runLocal(worker) }
                    }
                }
                for record in records {
                    let inputs = Set(record.spec.input.leaves.map { "\($0.repo)@\($0.branch)" })
                    if let existing = triggers[record.name] {
                        triggers[record.name]?.inputs = inputs
                        existing.trigger.yield()
                        continue
                    }
                    let (stream, trigger) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
                    triggers[record.name] = (inputs, trigger)
                    trigger.yield()
                    let name = record.name
                    group.addTask { try await self.control(name, triggers: stream, retrigger: trigger) }
                }
            }

            try await reconcile()
            loop: for await event in events {
                switch event {
                case .commit(let commit):
                    let key = "\(commit.repo)@\(commit.branch)"
                    for (name, controller) in triggers where controller.inputs.contains(key) {
                        if handedOff.withLock({ $0.remove("\(name) \(commit.id)") != nil }) { continue }
                        controller.trigger.yield()
                    }
                case .external(.repo(let repo)):
                    // A commit (here or elsewhere): only the pipelines that read the repo look again.
                    for controller in triggers.values
                    where controller.inputs.contains(where: { $0.hasPrefix(repo + "@") }) {
                        controller.trigger.yield()
                    }
                case .external(.alerts), .external(.erasures):
                    continue
                case .external(.datums(let pipeline)):
                    localWorkers.withLock { $0[pipeline] }?.wakeUp()
                case .external(.jobWorkDone(let job)):
                    waitingJobs.withLock { $0[job] }?.fire()
                case .external(.unknown):
                    // A catch-up (a reconnect, a poll): everything looks again.
                    wakeWaitingJobs()
                    for worker in localWorkers.withLock({ Array($0.values) }) { worker.wakeUp() }
                    try await reconcile()
                case .external(.pipeline):
                    try await reconcile()
                case .stop:
                    break loop
                }
            }
            for controller in triggers.values { controller.trigger.finish() }
            for worker in localWorkers.withLock({ Array($0.values) }) { worker.stop() }
            try await group.waitForAll()
        }
    }

    /// One pipeline's loop: on each trigger, run jobs until its inputs hold nothing new. A step that cannot run
    /// (an outage) is tried again with backoff; a job that left failed datums is followed, on a backoff
    /// schedule, by one that tries them again, so a datum failed by a passing fault is judged in the end.
    private func control(
        _ name: String, triggers: AsyncStream<Void>, retrigger: AsyncStream<Void>.Continuation
    ) async throws {
        let shouldStop = isStopping
        // Two timers at most, each a flag its loop reads: a short one after an outage, a long one after
        // failed datums; an outage does not wait behind an hour-long retry of failures.
        let outageWaitOver = RetryFlag()
        let failedRetryDue = RetryFlag()
        var outageScheduled = false
        var failedRetryScheduled = false
        var failedRetries = 0
        var outages = 0
        var lastJob = try? await environment.jobs.jobs(pipeline: name, limit: 1).first
        // The stages this engine runs itself are made now, not in the first frame's job: a detector's model
        // loads before any frame waits for it, and a stage that takes frames as they arrive (FramePrefetch)
        // is there for the first one. A stage that cannot be made fails its job as before.
        if environment.queue == nil, let record = try? await environment.jobs.pipeline(named: name),
            let stages = try? await workers.stages(for: record)
        {
            environment.logger.info(
                "pipeline workers ready", metadata: ["pipeline": "\(name)", "workers": "\(stages.count)"])
        }
        await withDiscardingTaskGroup { timers in
            func wake(_ flag: RetryFlag, after seconds: Double, reason: String) {
                environment.logger.info(
                    "pipeline tries again later",
                    metadata: [
                        "pipeline": "\(name)", "reason": "\(reason)", "in_s": "\(String(format: "%.1f", seconds))",
                    ])
                timers.addTask {
                    guard await JobRunner.pause(seconds, shouldStop: shouldStop) else { return }
                    flag.set()
                    retrigger.yield()
                }
            }
            for await _ in triggers {
                if outageWaitOver.take() { outageScheduled = false }
                var retry = false
                if failedRetryDue.take() {
                    failedRetryScheduled = false
                    retry = lastJob?.state == .finishedWithFailures
                }
                do {
                    while !shouldStop(), let stepped = try await step(name, retryFailed: retry) {
                        retry = false
                        lastJob = stepped.job
                        // A job on the inputs as this step found them leaves nothing behind: a commit since then
                        // has rung the trigger. A resumed one may have left newer inputs for another step.
                        guard stepped.job.state.isDone, !stepped.caughtUp else { break }
                    }
                    outages = 0
                } catch let error as PipelineError where error.code == .pipelineNotFound {
                    break
                } catch is CancellationError {
                    break
                } catch {
                    // The database or the store unreachable: this pipeline waits and tries again; the others go on.
                    outages += 1
                    environment.logger.error(
                        "pipeline step failed", metadata: ["pipeline": "\(name)", "error": "\(error)"])
                    if !outageScheduled {
                        outageScheduled = true
                        wake(
                            outageWaitOver, after: environment.stepRetry.delay(after: outages),
                            reason: "the step failed")
                    }
                    continue
                }
                guard lastJob?.state == .finishedWithFailures else {
                    failedRetries = 0
                    continue
                }
                if !failedRetryScheduled {
                    failedRetryScheduled = true
                    failedRetries += 1
                    wake(
                        failedRetryDue, after: environment.failedDatumRetry.delay(after: failedRetries),
                        reason: "failed datums are tried again")
                }
            }
            timers.cancelAll()
        }
    }

    /// Jobs waiting for their queued datums look at the queue again.
    func wakeWaitingJobs() {
        for signal in waitingJobs.withLock({ Array($0.values) }) { signal.fire() }
    }

    /// Runs an in-process worker until it stops; its failure is logged, not the engine's end.
    /// This process's worker of `pipeline`'s queued datums.
    private func localWorker(of pipeline: String, concurrency: Int, on queue: any DatumQueue) -> DatumWorker {
        DatumWorker(
            pipeline: pipeline, concurrency: concurrency, name: "\(environment.holder):\(pipeline)", queue: queue,
            environment: environment,
            // This process's jobs hear of it at once, without the round trip of a NOTIFY.
            onRecorded: { self.wakeWaitingJobs() })
    }

    /// Runs `worker` until it stops. One that stops on an error is replaced by a new one after a pause
    /// (growing while they keep failing), unless the engine stops or the pipeline went away: otherwise the
    /// pipeline's datums would wait for another process's worker, perhaps for ever.
    private func runLocal(_ first: DatumWorker) async {
        var worker = first
        var failures = 0
        while true {
            do {
                try await worker.runDatums()
                return
            } catch is CancellationError {
                return
            } catch {
                failures += 1
                let pause = environment.stepRetry.delay(after: failures)
                environment.logger.error(
                    "worker stopped; a new one starts shortly",
                    metadata: [
                        "worker": "\(worker.name)", "error": "\(error)", "in": "\(String(format: "%.0f", pause)) s",
                    ])
                try? await Task.sleep(for: .seconds(pause))
            }
            if Task.isCancelled || isStopping() { return }
            let next = localWorker(of: worker.pipeline, concurrency: worker.concurrency, on: worker.queue)
            let replaced = localWorkers.withLock { workers in
                guard workers[worker.pipeline] === worker else { return false }
                workers[worker.pipeline] = next
                return true
            }
            guard replaced else { return }
            worker = next
        }
    }

    /// Whether `run()` is routing commits to the pipelines (not `runUntilIdle`).
    var isDispatching: Bool { events.withLock { $0 != nil } }

    /// Whether a graceful stop was asked for: what running jobs and waits check.
    var isStopping: @Sendable () -> Bool { { self.stopping.load(ordering: .relaxed) } }

    /// Asks running jobs to stop at their next datum boundary and `run()` to return once they have (what
    /// graceful shutdown does).
    public func stopGracefully() {
        stopping.store(true, ordering: .relaxed)
        wakeWaitingJobs()
        _ = events.withLock { $0?.yield(.stop) }
    }

    // MARK: Running on demand

    /// Runs every pending job, upstream pipelines first, until nothing is pending; returns the jobs run. What
    /// `vigil pipeline run` and scripts use when no service is running.
    @discardableResult
    public func runUntilIdle(only names: Set<String>? = nil) async throws -> [JobInfo] {
        EngineRegistry.shared.add(environment.holder)
        defer { EngineRegistry.shared.remove(environment.holder) }
        var ran: [JobInfo] = []
        while true {
            var progressed = false
            let records = try await environment.jobs.pipelines()
            knownPipelines.withLock { $0 = records }
            for record in Self.upstreamFirst(records)
            where names?.contains(record.name) ?? true {
                while let job = try await step(record.name)?.job {
                    ran.append(job)
                    progressed = true
                    if !job.state.isDone { return ran }
                }
            }
            if !progressed { return ran }
        }
    }

    /// Pipelines ordered so that each comes after those whose output it reads.
    static func upstreamFirst(_ records: [PipelineRecord]) -> [PipelineRecord] {
        var ordered: [PipelineRecord] = []
        var placed = Set<String>()
        var remaining = records
        while !remaining.isEmpty {
            let names = Set(remaining.map(\.name))
            let ready = remaining.filter { record in
                record.spec.input.leaves.allSatisfy { !names.contains($0.repo) || $0.repo == record.name }
            }
            // A cycle cannot be created, but never loop forever on bad data.
            let next = ready.isEmpty ? [remaining[0]] : ready
            ordered += next
            placed.formUnion(next.map(\.name))
            remaining.removeAll { placed.contains($0.name) }
        }
        return ordered
    }

    // MARK: One step

    /// A step's job, and whether it was one the step started on its inputs as it read them (not one resumed or
    /// taken over, whose inputs may be older): then only a later commit can leave work for another step.
    struct Stepped: Sendable {
        var job: JobInfo
        var caughtUp: Bool
    }

    /// Runs the pipeline's next job if its inputs have anything new (or a run was asked for, or a crashed job
    /// waits to be resumed, or `retryFailed` asks for the failed datums to be tried again); nil when there is
    /// nothing to do or another live engine is at it.
    func step(_ name: String, retryFailed: Bool = false) async throws -> Stepped? {
        let started = Date()
        let store = environment.store
        guard let record = try await environment.jobs.pipeline(named: name) else {
            throw PipelineError.pipelineNotFound(name)
        }
        let spec = record.spec
        let specHash = spec.specHash
        // The output head with its state, and the running jobs, are read beside the inputs: none of the reads
        // needs another's answer, and the step's answer comes from all of them together.
        async let outputHead = Self.head(of: name, in: store)
        async let runningJobs = environment.jobs.runningJobs(pipeline: name)
        var inputCommits: [String: String] = [:]
        var inputs: [CommitReference] = []
        for leaf in spec.input.leaves {
            guard let branch = try await store.metadata.branch(leaf.branch, in: leaf.repo) else {
                environment.logger.warning(
                    "pipeline input branch is missing",
                    metadata: ["pipeline": "\(name)", "input": "\(leaf.repo)@\(leaf.branch)"])
                return nil
            }
            guard let head = branch.head else { continue }
            inputCommits[leaf.name] = head
            let reference = CommitReference(repo: leaf.repo, commit: head)
            if !inputs.contains(reference) { inputs.append(reference) }
        }
        let (output, state) = try await outputHead
        let running = try await runningJobs
        // Side inputs start no job: only the inputs that make datums count.
        let sideInputs = spec.input.sideInputs
        func counting(_ commits: [String: String]) -> [String: String] {
            commits.filter { !sideInputs.contains($0.key) }
        }
        let counted = counting(inputCommits)
        let changed = state.map { $0.specHash != specHash || counting($0.inputs) != counted } ?? !counted.isEmpty
        var pending = record.runRequested || retryFailed || !running.isEmpty || changed
        if pending, !record.runRequested, running.isEmpty,
            let last = try await environment.jobs.newestJob(pipeline: name, ifIn: .failed), last.specHash == specHash,
            counting(last.inputCommits) == counted
        {
            // The same job failed before it could run (a stage that cannot start): trying again changes
            // nothing until the inputs or the spec do, or `vigil pipeline run` asks.
            pending = false
        }
        guard pending else { return nil }

        var job = JobInfo(
            id: VersionedStore.newID(), pipeline: name,
            specHash: specHash, inputs: inputs, inputCommits: inputCommits, baseOutput: output?.id,
            full: record.runRequested || retryFailed, holder: environment.holder, started: environment.clock())
        job.recompute = record.recomputeRequested ? true : nil
        let newJob = job.id
        func stepped(_ ran: JobInfo?) -> Stepped? { ran.map { Stepped(job: $0, caughtUp: $0.id == newJob) } }
        // A job this engine still holds is one its last step left behind (the steps of a pipeline run one at a
        // time): resume it.
        let isBusy: @Sendable (JobInfo) -> Bool = { [environment] in
            $0.holder != environment.holder && environment.isAlive($0)
        }
        if let queue = environment.queue {
            return stepped(
                try await stepQueued(
                    job, record: record, output: output, state: state, planNew: running.isEmpty,
                    retryFailed: retryFailed, queue: queue, isBusy: isBusy))
        }
        func run(_ job: JobInfo, resumed: [String: DatumRecord], recording: JobRecording?) async throws -> JobInfo {
            try await settling(job, recording: recording) {
                let stages = try await workers.stages(for: record)
                var runner = JobRunner(
                    environment: environment, pipeline: record, workers: stages, retryingFailures: retryFailed,
                    shouldStop: isStopping)
                runner.stepStarted = started
                runner.recording = recording
                if environment.handsOff, environment.queue == nil {
                    runner.handOff = handOffs
                }
                return try await runner.run(job, output: output, outputState: state, resumed: resumed)
            }
        }
        var existing: JobInfo?
        if running.isEmpty, !record.runRequested {
            // No job of the pipeline was running when the step looked: the new one's record is written beside
            // its start. Only another engine stepping the pipeline at this moment can have one running now.
            let starting = job
            let recording = JobRecording { [environment] in
                try await environment.jobs.startJob(starting, isAlive: isBusy)
            }
            do {
                return stepped(try await run(job, resumed: [:], recording: recording))
            } catch let superseded as JobRecording.Superseded {
                existing = superseded.existing
            }
        } else {
            existing = try await environment.jobs.startJob(job, isAlive: isBusy)
        }
        var resumed: [String: DatumRecord] = [:]
        if let existing {
            if isBusy(existing) { return nil }
            job = existing
            job.holder = environment.holder
            job.heartbeat = environment.clock()
            if let finished = try await finishedMeanwhile(job, output: output, state: state) {
                return stepped(finished)
            }
            // Counted afresh: what the earlier run finished shows as `recovered`.
            job.counts = JobCounts()
            try await environment.jobs.updateJob(job)
            resumed = try await environment.jobs.successfulDatums(job: job.id)
            environment.logger.info(
                "resuming job", metadata: ["pipeline": "\(name)", "job": "\(job.id)", "done": "\(resumed.count)"])
        } else if record.runRequested {
            _ = try await environment.jobs.setRunRequested(false, recompute: false, pipeline: name)
        }

        return stepped(try await run(job, resumed: resumed, recording: nil))
    }

    /// A pipeline's output head and the state its job left there.
    static func head(
        of pipeline: String, in store: VersionedStore
    ) async throws -> (CommitInfo?, DatumIndex.State?) {
        let output = try await store.resolveCommit(pipeline, ref: nil)
        return (output, try await DatumIndex.state(of: output, in: store))
    }

    /// A job taken over whose output commit its engine had made before it died: only the record was behind.
    func finishedMeanwhile(_ job: JobInfo, output: CommitInfo?, state: DatumIndex.State?) async throws -> JobInfo? {
        guard let state, state.job == job.id, let output else { return nil }
        var job = job
        job.counts = state.counts
        job.output = output.id
        job.state = .finished
        job.finished = job.heartbeat
        try await environment.jobs.updateJob(job)
        return job
    }

    /// Runs a started job's `body`. An outage is not the job's fault: the job stays to be resumed (by this
    /// engine's next try, or any other's) and the error goes on; any other error ends the job as failed.
    /// `cleanUp` runs first whenever `body` throws. `recording`, when the job's record is written beside
    /// `body` (by its runner), is written now if `body` failed before it began, and waited for before the
    /// record is changed; when it could not be written, its error goes on instead.
    func settling(
        _ job: JobInfo, recording: JobRecording? = nil, cleanUp: () async -> Void = {},
        _ body: () async throws -> JobInfo
    ) async throws -> JobInfo {
        var job = job
        do {
            return try await body()
        } catch is CancellationError {
            await cleanUp()
            throw CancellationError()
        } catch let superseded as JobRecording.Superseded {
            await cleanUp()
            throw superseded
        } catch  where JobRunner.isOutage(error) {
            await cleanUp()
            try await recording?.writeAndWait()
            job.holder = ""
            try? await environment.jobs.updateJob(job)
            throw error
        } catch {
            await cleanUp()
            try await recording?.writeAndWait()
            job.state = .failed
            job.error = "\(error)"
            job.finished = environment.clock()
            try await environment.jobs.updateJob(job)
            environment.logger.error(
                "job failed", metadata: ["pipeline": "\(job.pipeline)", "job": "\(job.id)", "error": "\(error)"])
            return job
        }
    }
}

/// A timer's word to its pipeline's loop that the wait it set is over.
private final class RetryFlag: Sendable {
    private let due = Atomic<Bool>(false)

    func set() { due.store(true, ordering: .relaxed) }
    func take() -> Bool { due.exchange(false, ordering: .relaxed) }
}

/// Each pipeline's worker stages, made once per spec version and kept across jobs (a detector's model loads
/// once per worker, not once per job).
actor WorkerCache {
    let environment: EngineEnvironment
    private var cache: [String: (version: Int, stages: [any Stage])] = [:]

    init(environment: EngineEnvironment) {
        self.environment = environment
    }

    func stages(for record: PipelineRecord) async throws -> [any Stage] {
        if let cached = cache[record.name], cached.version == record.version { return cached.stages }
        var stages: [any Stage] = []
        for _ in 0..<record.spec.parallelism {
            stages.append(try await Self.makeStage(for: record.spec, environment: environment))
        }
        cache[record.name] = (record.version, stages)
        return stages
    }

    /// One worker's stage for `spec`: the built-in stage it names, or its external command.
    static func makeStage(for spec: PipelineSpec, environment: EngineEnvironment) async throws -> any Stage {
        let transform = spec.transform
        guard let name = transform.stage else { return try ExternalCommandStage(spec: spec, environment: environment) }
        let configuration = StageConfiguration(
            pipeline: spec.name, options: transform.options, store: environment.store, logger: environment.logger)
        return try await environment.stages.make(name, configuration)
    }
}
