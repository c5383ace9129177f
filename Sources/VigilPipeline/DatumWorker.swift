import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import VigilStore

/// Runs the queued datums of one pipeline, whichever host's coordinator queued them: `vigil worker --pipeline
/// NAME`, or one per pipeline inside an engine that runs workers. It claims as many datums as it has free slots,
/// runs each on a stage of its own (made once per spec and kept, so a detector loads its model once per slot),
/// and records each result under its claim's fencing token. Its heartbeat, a task of its own, renews the
/// leases of what it holds whether or not datums finish, so a datum that runs for minutes does not look dead.
///
/// It wakes when the pipeline's datums become claimable (`wakeUp()`, from the change feed), when a slot frees,
/// and every `queuePoll` seconds in case a notification was lost. An outage of the database is waited out
/// (logged, and shown in `vigil worker list` once it is back); results not yet recorded are kept and sent
/// again, and the fence decides whether they still count.
public final class DatumWorker: Sendable {
    public let pipeline: String
    public let name: String
    public let concurrency: Int
    let queue: any DatumQueue
    let environment: EngineEnvironment
    private let instance = UUID().uuidString
    private let wake = WakeSignal()
    private let stopping = Atomic<Bool>(false)
    /// Whether `register` succeeded (a caller may register before `runDatums`, which then does not again).
    private let registered = Atomic<Bool>(false)
    private let state = Mutex(State())
    private let stages: StagePool
    /// Called after results are recorded (an engine in this process wakes its waiting jobs with it).
    private let onRecorded: (@Sendable () -> Void)?

    private struct State {
        /// Claims being run or waiting for a slot, by token.
        var held: [Int64: DatumClaim] = [:]
        /// Claims waiting for a slot, oldest first.
        var ready: [DatumClaim] = []
        /// Slots running datums now.
        var busySlots = 0
        /// Results not yet recorded.
        var finished: [DatumResult] = []
        /// The index entries of successful results not yet stored, by claim token: stored as one pack when
        /// the results are recorded.
        var entries: [Int64: DatumIndex.Entry] = [:]
        /// Claims given up unfinished (a stop), not yet given back.
        var interrupted: [DatumClaim] = []
        var status = "running"
        var lastError: String?
    }

    /// At most this many datums are claimed at once, however many slots are free.
    static let claimBatch = 16
    /// Datums claimed beyond the slots, so a slot that frees starts its next datum at once instead of after a
    /// round trip to the database; one, so a long datum keeps at most one other waiting behind it.
    static let prefetch = 1

    public init(
        pipeline: String, concurrency: Int, name: String? = nil, queue: any DatumQueue, environment: EngineEnvironment,
        onRecorded: (@Sendable () -> Void)? = nil
    ) {
        self.onRecorded = onRecorded
        self.pipeline = pipeline
        self.concurrency = max(1, concurrency)
        self.name = name ?? "\(EngineEnvironment.hostName):\(getpid()):\(pipeline)"
        self.queue = queue
        self.environment = environment
        stages = StagePool(environment: environment)
    }

    /// The pipeline's datums may be claimable: look now.
    public func wakeUp() { wake.fire() }

    /// Stops claiming; datums running finish and are recorded, then `run()` returns.
    public func stop() {
        stopping.store(true, ordering: .relaxed)
        state.withLock { $0.status = "stopping" }
        wake.fire()
    }

    private var isStopping: Bool { stopping.load(ordering: .relaxed) || Task.isCancelled }

    private var record: WorkerRecord {
        state.withLock { state in
            WorkerRecord(
                name: name, instance: instance, pipeline: pipeline, host: EngineEnvironment.hostName,
                version: VigilVersion.current, concurrency: concurrency, state: state.status,
                lastError: state.lastError)
        }
    }

    private var logger: Logger { environment.logger }

    /// A worker's whole service (`vigil worker`, or the worker `vigil pipeline run` runs for its job): runs
    /// datums with wake-ups from `changes`, beside a lease keeper (which this process may be elected to run),
    /// until cancelled or stopped gracefully (datums running finish first).
    public func serve(changes: (any ChangeFeed)?) async throws {
        let keeper = LeaseKeeper(
            queue: queue, holder: name + "#" + instance, logger: logger, lease: environment.datumLease)
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    await changes?.watch { change in
                        switch change {
                        case .datums(let pipeline) where pipeline == self.pipeline: self.wakeUp()
                        case .unknown: self.wakeUp()
                        default: break
                        }
                    }
                }
                group.addTask { await keeper.run() }
                try await self.runDatums()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            self.stop()
        }
    }

    /// Registers, runs datums until stopped (or cancelled, or replaced by a worker that took its name over),
    /// and unregisters.
    public func runDatums() async throws {
        try await register()
        logger.info(
            "worker started",
            metadata: ["worker": "\(name)", "pipeline": "\(pipeline)", "concurrency": "\(concurrency)"])
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await self.beat() }
                try await self.work()
                group.cancelAll()
                // The heartbeat's own end: `worker-replaced` (it stopped the work) is this worker's error.
                while try await group.next() != nil {}
            }
        } catch {
            try? await queue.unregister(record)
            throw error
        }
        try? await queue.unregister(record)
        logger.info("worker stopped", metadata: ["worker": "\(name)", "pipeline": "\(pipeline)"])
    }

    /// Registers the worker (again: idempotent), waiting out an outage of the database; throws
    /// `worker-name-taken` while a live worker has its name. `runDatums` does it too: a caller registers first
    /// to fail before it says the worker runs.
    public func register() async throws {
        if registered.load(ordering: .relaxed) { return }
        var failures = 0
        while true {
            do {
                try await queue.register(record, staleAfter: environment.datumLease * 3)
                registered.store(true, ordering: .relaxed)
                return
            } catch let error where Outage.isOutage(error) && !isStopping {
                failures += 1
                logger.warning(
                    "worker waits for the database to register",
                    metadata: ["worker": "\(name)", "error": "\(error)", "attempt": "\(failures)"])
                try await Task.sleep(for: .seconds(environment.stepRetry.delay(after: failures)))
            }
        }
    }

    // MARK: Heartbeat

    /// Renews the leases of what this worker holds, every third of a lease, until cancelled.
    private func beat() async throws {
        let lease = environment.datumLease
        while !Task.isCancelled {
            let tokens = state.withLock { Array($0.held.keys) }
            do {
                let still = try await queue.heartbeat(record, holding: tokens, lease: lease)
                let lost = Set(tokens).subtracting(still)
                state.withLock { state in
                    if state.status != "stopping" { state.status = "running" }
                    // Taken back while this worker was cut off: whatever it records for them is refused.
                    for token in lost { state.held[token] = nil }
                    state.ready.removeAll { lost.contains($0.token) }
                }
                if !lost.isEmpty {
                    logger.warning(
                        "worker lost the lease on datums it was running; their results will not count",
                        metadata: ["worker": "\(name)", "datums": "\(lost.count)"])
                }
            } catch let error as PipelineError where error.code == .workerReplaced {
                // Another worker runs under this name now: this one stops claiming and ends with the error.
                stop()
                throw error
            } catch {
                if Task.isCancelled { return }
                waitsForTheDatabase(error, doing: "heartbeat")
            }
            try? await Task.sleep(for: .seconds(lease / 3))
        }
    }

    /// Says (in the log, and in `vigil worker list` once the database answers again) that `error` stopped
    /// this worker's `doing` for now.
    private func waitsForTheDatabase(_ error: any Error, doing: String) {
        state.withLock { state in
            state.status = "waiting for the database"
            state.lastError = "\(error)"
        }
        logger.warning(
            "worker waits for the database", metadata: ["worker": "\(name)", "for": "\(doing)", "error": "\(error)"])
    }

    // MARK: Work

    private func work() async throws {
        var outages = 0
        try await withThrowingDiscardingTaskGroup { slots in
            while true {
                var waitFor = environment.queuePoll
                do {
                    // Cancelled: nothing more can be recorded (the database refuses a cancelled task's queries);
                    // what this worker holds goes back to the queue when its leases run out.
                    if Task.isCancelled { break }
                    let stop = isStopping
                    // Claims finished or given up are recorded by the exchange below: their places count as free.
                    let (outstanding, held) = state.withLock { state in
                        if stop {
                            state.interrupted += state.ready
                            state.ready.removeAll()
                        }
                        return (
                            state.held.count - state.finished.count - state.interrupted.count, state.held.count
                        )
                    }
                    if stop, held == 0 { break }
                    let room = stop ? 0 : max(0, concurrency + Self.prefetch - outstanding)
                    let limit = min(room, Self.claimBatch)
                    let (claims, gaveBack) = try await exchange(claimingUpTo: limit)
                    let starting = state.withLock { state in
                        for claim in claims { state.held[claim.token] = claim }
                        state.ready += claims
                        let starting = min(concurrency - state.busySlots, state.ready.count)
                        state.busySlots += max(0, starting)
                        return starting
                    }
                    for _ in 0..<max(0, starting) { slots.addTask { await self.runSlot() } }
                    if gaveBack, !stop {
                        // A datum given up for an outage (S3, the disk) is not claimed straight back: wait a little.
                        outages += 1
                        waitFor = environment.outageBackoff.delay(after: outages)
                    } else {
                        outages = 0
                        // More may wait: claim again at once while there is room.
                        if limit > 0, claims.count == limit, limit < room { continue }
                    }
                } catch let error where Outage.isOutage(error) {
                    outages += 1
                    waitsForTheDatabase(error, doing: "claims and results")
                    waitFor = environment.outageBackoff.delay(after: outages)
                }
                await wake.wait(upTo: waitFor)
            }
        }
    }

    /// One slot: runs ready claims one after another until none is left (or the worker stops).
    private func runSlot() async {
        while true {
            let next = state.withLock { state -> DatumClaim? in
                guard !state.ready.isEmpty, !stopping.load(ordering: .relaxed) else {
                    state.busySlots -= 1
                    return nil
                }
                return state.ready.removeFirst()
            }
            guard let next else { break }
            await process(next)
        }
        wake.fire()
    }

    /// Sends the finished results (and gives back interrupted claims) and claims up to `limit` more, the
    /// results and the claim in one transaction; results not accepted had lost their claim.
    private func exchange(claimingUpTo limit: Int) async throws -> (claims: [DatumClaim], gaveBack: Bool) {
        let (finished, entries, stillInterrupted) = state.withLock { state in
            defer {
                state.finished.removeAll()
                state.entries.removeAll()
                state.interrupted.removeAll()
            }
            return (state.finished, state.entries, state.interrupted)
        }
        var (results, interrupted) = (finished, stillInterrupted)
        if !entries.isEmpty {
            do {
                try await storeIndexEntries(entries, of: &results)
            } catch {
                // The blob store is out of reach: those datums go back to the queue, to run again later.
                logger.warning(
                    "worker could not store index entries; their datums go back to the queue",
                    metadata: ["worker": "\(name)", "datums": "\(entries.count)", "error": "\(error)"])
                interrupted += results.filter { entries[$0.claim.token] != nil }.map(\.claim)
                results.removeAll { entries[$0.claim.token] != nil }
            }
        }
        let claims: [DatumClaim]
        do {
            try await queue.release(interrupted)
            let exchanged = try await queue.complete(
                results, by: record, claimingUpTo: limit, lease: environment.datumLease)
            claims = exchanged.claims
            if !results.isEmpty { onRecorded?() }
            let refused = results.count - exchanged.accepted.count
            if refused > 0 {
                logger.warning(
                    "results of datums whose lease this worker had lost were refused; another worker runs them",
                    metadata: ["worker": "\(name)", "refused": "\(refused)"])
            }
            state.withLock { state in
                for result in results { state.held[result.claim.token] = nil }
                for claim in interrupted { state.held[claim.token] = nil }
            }
        } catch {
            // Kept, to send again: the claims stay held (and their leases renewed) meanwhile.
            state.withLock { state in
                state.finished = results + state.finished
                state.interrupted = interrupted + state.interrupted
            }
            throw error
        }
        return (claims, !interrupted.isEmpty)
    }

    /// Stores the index entries of results about to be recorded, by content, like their outputs: one pack for
    /// all of them (one write to the blob store instead of one a datum), which the job's commit only links.
    private func storeIndexEntries(_ entries: [Int64: DatumIndex.Entry], of results: inout [DatumResult]) async throws {
        let written = try await environment.store.blobs.put(try DatumIndex.encodePack(Array(entries.values)))
        for index in results.indices where entries[results[index].claim.token] != nil {
            results[index].record.index = .file(written.hash, size: written.size)
        }
    }

    /// Runs one claimed datum to a result (or gives it up when stopping), then wakes the loop to record it.
    private func process(_ claim: DatumClaim) async {
        defer { wake.fire() }
        let shouldStop: @Sendable () -> Bool = { self.stopping.load(ordering: .relaxed) }
        let outcome: JobRunner.Outcome
        do {
            let spec = try await self.spec(of: claim)
            let stage = try await stages.take(for: spec)
            outcome = await JobRunner.process(
                claim.datum, on: stage, job: claim.job, spec: spec, environment: environment, shouldStop: shouldStop)
            await stages.giveBack(stage, for: spec)
        } catch {
            if Outage.isOutage(error) || isStopping {
                state.withLock { $0.interrupted.append(claim) }
                return
            }
            // A stage that cannot be made (an unknown stage, a bad option): the datum fails with the reason.
            let now = environment.clock()
            var record = DatumRecord(
                job: claim.job, datum: claim.datum.id, state: .failed, attempts: 1, inputs: claim.datum.inputs,
                outputs: [], error: "\(error)", started: now, finished: now)
            record.worker = name
            state.withLock { $0.finished.append(DatumResult(claim: claim, record: record)) }
            return
        }
        switch outcome {
        case .success(let datum, var record):
            record.worker = name
            let entry = DatumIndex.entry(datum, job: claim.job, outputs: record.outputs)
            state.withLock { state in
                state.finished.append(DatumResult(claim: claim, record: record))
                state.entries[claim.token] = entry
            }
        case .failure(_, var record):
            record.worker = name
            state.withLock { $0.finished.append(DatumResult(claim: claim, record: record)) }
        case .interrupted:
            state.withLock { $0.interrupted.append(claim) }
        }
    }

    private func spec(of claim: DatumClaim) async throws -> PipelineSpec {
        if let known = await stages.spec(claim.specHash) { return known }
        guard let spec = try await queue.spec(job: claim.job) else {
            throw PipelineError(
                .jobNotFound,
                "job \(claim.job) has no recorded work any more (was it finished or its pipeline deleted?)",
                value: claim.job)
        }
        await stages.remember(spec)
        return spec
    }
}

/// A worker's stages, per spec: made on first use, one per datum running at once, and kept for the next.
actor StagePool {
    let environment: EngineEnvironment
    private var specs: [String: PipelineSpec] = [:]
    private var idle: [String: [any Stage]] = [:]

    init(environment: EngineEnvironment) {
        self.environment = environment
    }

    func spec(_ hash: String) -> PipelineSpec? { specs[hash] }

    func remember(_ spec: PipelineSpec) {
        // Stages of specs no job uses any more are let go when a new spec arrives.
        if specs.count >= 4 {
            specs.removeAll()
            idle.removeAll()
        }
        specs[spec.specHash] = spec
    }

    func take(for spec: PipelineSpec) async throws -> any Stage {
        if let stage = idle[spec.specHash]?.popLast() { return stage }
        return try await WorkerCache.makeStage(for: spec, environment: environment)
    }

    func giveBack(_ stage: any Stage, for spec: PipelineSpec) {
        guard specs[spec.specHash] != nil else { return }
        idle[spec.specHash, default: []].append(stage)
    }
}
