import Foundation
import VigilStore

/// Jobs whose datums go to a shared queue (a PostgreSQL database), for workers on any host: this engine plans
/// the job and records its datums in the transaction that starts it, waits until workers have done them all,
/// and assembles the output commit from their records, once.
extension PipelineEngine {
    /// `step`'s work with a queue: starts `new` (planned here when `planNew`: no job of the pipeline was
    /// running) or takes over the running job, waits for its datums, and makes its commit.
    func stepQueued(
        _ new: JobInfo, record: PipelineRecord, output: CommitInfo?, state: DatumIndex.State?, planNew: Bool,
        retryFailed: Bool, queue: any DatumQueue, isBusy: @escaping @Sendable (JobInfo) -> Bool
    ) async throws -> JobInfo? {
        let name = record.name
        var runner = JobRunner(
            environment: environment, pipeline: record, workers: [], retryingFailures: retryFailed,
            shouldStop: isStopping)
        var job = new
        var prepared: JobRunner.Prepared?
        var work: JobWork?
        // Opened before any datum is queued and held until the commit: its lease keeps gc off what workers
        // store meanwhile.
        var writer: CommitWriter?
        if planNew {
            // Opened (a lease, a write) while the job is planned (reads): neither waits for the other.
            let opener = runner
            async let opening = opener.openOutput()
            do {
                let plan = try await runner.prepare(&job, output: output, outputState: state)
                work = JobWork(spec: record.spec, datums: try await runner.datumsToRun(plan, job: &job))
                prepared = plan
            } catch {
                if let opened = try? await opening { await opened.abandon() }
                throw error
            }
            writer = try await opening
        }
        let started: JobInfo?
        do {
            started = try await queue.startJob(job, work: work, isAlive: isBusy)
        } catch {
            await writer?.abandon()
            throw error
        }
        if let existing = started {
            await writer?.abandon()
            writer = nil
            if isBusy(existing) { return nil }
            job = existing
            job.holder = environment.holder
            job.heartbeat = environment.clock()
            if let finished = try await finishedMeanwhile(job, output: output, state: state) { return finished }
            runner.retryingFailures = false
            try await environment.jobs.updateJob(job)
            let plan = try await runner.prepare(&job, output: output, outputState: state)
            prepared = plan
            if try await queue.progress(job: job.id) == nil {
                // Started by an engine that ran its datums itself: its remaining work is recorded now.
                job.counts = JobCounts()
                let datums = try await runner.datumsToRun(plan, job: &job)
                try await queue.addWork(JobWork(spec: record.spec, datums: datums), to: job)
                try await environment.jobs.updateJob(job)
            }
            let opened = try await runner.openOutput()
            // Its previous coordinator may have committed since the head was read: then that commit stands.
            let head = try await environment.store.resolveCommit(name, ref: nil)
            if let head, head.id != output?.id,
                let finished = try await finishedMeanwhile(
                    job, output: head, state: try await DatumIndex.state(of: head, in: environment.store))
            {
                await opened.abandon()
                return finished
            }
            writer = opened
            environment.logger.info("taking over job", metadata: ["pipeline": "\(name)", "job": "\(job.id)"])
        } else if work == nil {
            // The job that was running ended meanwhile, and nothing was recorded: look again.
            return try await step(name, retryFailed: retryFailed)?.job
        } else if record.runRequested {
            _ = try await environment.jobs.setRunRequested(false, recompute: false, pipeline: name)
        }
        guard let prepared, let writer else { return nil }

        let before = job
        return try await settling(before, cleanUp: { await writer.abandon() }) {
            var assembly = try await JobAssembly(
                runner: runner, job: job, prepared: prepared, writer: writer, verifyingOutputs: !planNew)
            guard
                let progress = try await waitForWork(
                    &job, parallelism: record.spec.parallelism, queue: queue, writer: writer, assembly: &assembly)
            else {
                // Stopping: the job stays to be taken over; its workers may well finish it meanwhile.
                await writer.abandon()
                job.holder = ""
                try await environment.jobs.updateJob(job)
                return job
            }
            return try await assembly.finish(job, progress: progress)
        }
    }

    /// Waits until every queued datum of `job` is done, keeping the job's heartbeat and taking finished
    /// datums into `assembly` meanwhile; nil when the engine is stopping first. With no worker of the pipeline
    /// in any process, it waits for one to start.
    private func waitForWork(
        _ job: inout JobInfo, parallelism: Int, queue: any DatumQueue, writer: CommitWriter,
        assembly: inout JobAssembly
    ) async throws
        -> JobProgress?
    {
        let signal = WakeSignal()
        let id = job.id
        waitingJobs.withLock { $0[id] = signal }
        defer { _ = waitingJobs.withLock { $0.removeValue(forKey: id) } }
        let ownWorker = localWorkers.withLock { $0[job.pipeline] } == nil && environment.runsWorkers
        guard ownWorker else {
            return try await waitLoop(&job, queue: queue, signal: signal, writer: writer, assembly: &assembly)
        }
        // No engine loop runs this pipeline's workers, or a lease keeper, here (`vigil pipeline run`): a worker
        // process's own service runs for this job, keeper included, so a worker that died holding this job's
        // datums (elsewhere, or before a restart) does not leave them claimed for ever.
        let worker = DatumWorker(
            pipeline: job.pipeline, concurrency: parallelism, name: "\(environment.holder):\(job.pipeline)",
            queue: queue, environment: environment, onRecorded: { signal.fire() })
        // The worker is stopped, not cancelled: it records its last results and leaves the list.
        return try await withThrowingTaskGroup(of: Void.self) { working in
            working.addTask { try await worker.serve(changes: nil) }
            defer { worker.stop() }
            let progress = try await waitLoop(
                &job, queue: queue, signal: signal, writer: writer, assembly: &assembly)
            worker.stop()
            try await working.waitForAll()
            return progress
        }
    }

    private func waitLoop(
        _ job: inout JobInfo, queue: any DatumQueue, signal: WakeSignal, writer: CommitWriter,
        assembly: inout JobAssembly
    ) async throws
        -> JobProgress?
    {
        var lastHeartbeat = Date()
        let started = ContinuousClock.now
        // Looked at often while records come in (to take them in as they do), less and less often while none do.
        var pause = JobAssembly.writeInterval
        while true {
            guard let progress = try await queue.progress(job: job.id) else {
                throw PipelineError(
                    .io, "job \(job.id): its queued datums are gone (was its pipeline deleted?)", value: job.id)
            }
            if progress.remaining == 0 { return progress }
            if isStopping() { return nil }
            let arrived = try await assembly.takeIn(progress, elapsed: started.duration(to: .now))
            pause = arrived > 0 ? JobAssembly.writeInterval : min(pause * 2, .seconds(environment.queuePoll))
            job.counts.processed = progress.total - progress.remaining - progress.failed
            job.counts.failed = progress.failed
            environment.progress?(job)
            if Date().timeIntervalSince(lastHeartbeat) >= JobRunner.heartbeatInterval {
                lastHeartbeat = Date()
                job.heartbeat = environment.clock()
                try await environment.jobs.updateJob(job)
                try await writer.keepAlive()
            }
            await signal.wait(upTo: pause / .seconds(1))
        }
    }
}
