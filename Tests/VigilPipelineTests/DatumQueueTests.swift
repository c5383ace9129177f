import Foundation
import Logging
import ServerTestSupport
import Synchronization
import Testing
import VigilPipeline
import VigilStore

/// `PostgresDatumQueue` on a real PostgreSQL: claims, leases, fencing tokens, leadership, worker names.
@Suite("datum queue on PostgreSQL", .enabled(if: PostgresServer.canRun, Comment(rawValue: PostgresServer.skipReason)))
struct DatumQueueTests {
    static let logger = Logger(label: "queue-test") { _ in SwiftLogNoOpLogHandler() }

    /// A fresh database with the jobs schema, its queue and job store.
    static func withQueue(
        _ body: @Sendable (PostgresDatumQueue, PostgresJobStore) async throws -> Void
    ) async throws {
        let server = try await PostgresServer.shared()
        try await server.withDatabase(schemas: [PostgresJobStore.schema], logger: logger) { database in
            try await body(PostgresDatumQueue(database: database), PostgresJobStore(database: database))
        }
    }

    static let spec: PipelineSpec = try! PipelineSpecParser.parse(
        "{name: work, input: {pfs: {repo: images, glob: '/*'}}, transform: {stage: noop}}")

    static func datums(_ count: Int) -> [Datum] {
        (0..<count).map { index in
            Datum(
                inputs: [
                    DatumInput(
                        name: "images", repo: "images", commit: "c1", path: "/f\(index)", kind: .file,
                        hash: BlobHash(of: Data("file \(index)".utf8)), size: 6)
                ], specHash: spec.specHash)
        }
    }

    static func job(_ id: String = UUID().uuidString) -> JobInfo {
        JobInfo(
            id: id, pipeline: "work", specHash: spec.specHash, inputs: [], inputCommits: [:], baseOutput: nil,
            full: true, holder: "coordinator", started: Date())
    }

    static func worker(_ name: String) -> WorkerRecord {
        WorkerRecord(name: name, pipeline: "work", host: "host-\(name)", version: VigilVersion.current, concurrency: 4)
    }

    static func result(_ claim: DatumClaim, by worker: String, state: DatumState = .success) -> DatumResult {
        DatumResult(
            claim: claim,
            record: DatumRecord(
                job: claim.job, datum: claim.datum.id, state: state, attempts: 1, inputs: claim.datum.inputs,
                outputs: [], error: state == .failed ? "failed on \(worker)" : nil, log: "ran on \(worker)",
                started: Date(), finished: Date()))
    }

    /// Starts a job with `count` datums; returns the job.
    static func start(_ count: Int, on queue: PostgresDatumQueue) async throws -> JobInfo {
        let job = job()
        let existing = try await queue.startJob(
            job, work: JobWork(spec: spec, datums: datums(count)), isAlive: { _ in true })
        #expect(existing == nil)
        return job
    }

    /// A job's datums are inserted in the transaction that starts it: a big job is given time in proportion
    /// (40,000 datums take this machine more than a second, and the query timeout here is half of one; not
    /// more datums, whose write-ahead log would slow the other tests sharing this PostgreSQL). Connecting has
    /// a timeout of its own: a machine busy with the rest of the suite may take longer than that to let in a
    /// new connection, which is not what is tested here.
    @Test func aJobTooBigToRecordWithinTheQueryTimeoutStillStarts() async throws {
        let server = try await PostgresServer.shared()
        let location = try PostgresLocation.parse(
            server.url(database: try await server.makeDatabase()) + "&timeout=0.5&connect_timeout=30")
        try await PostgresServer.withClient(
            location, environment: server.environment, schemas: [PostgresJobStore.schema], logger: Self.logger
        ) { (database: PostgresDatabase) async throws -> Void in
            let queue = PostgresDatumQueue(database: database)
            let work = JobWork(spec: Self.spec, datums: Self.datums(40_000))
            let job = Self.job()
            #expect(try await queue.startJob(job, work: work, isAlive: { _ in true }) == nil)
            #expect(try await queue.progress(job: job.id) == JobProgress(total: 40_000, remaining: 40_000, failed: 0))
        }
    }

    /// Engines racing to start a pipeline (after an outage, say) take turns at its lock. A turn that outlasts
    /// the query timeout is not an outage: the starter that waited still starts its job once the lock is free,
    /// and does not fail with `database-unavailable`. (The timeout is 5 s, not less: under the whole suite's
    /// load one start here took longer than 2 s.)
    @Test func aStarterOutwaitsAnotherThatHoldsThePipelineLongerThanTheQueryTimeout() async throws {
        let server = try await PostgresServer.shared()
        let location = try PostgresLocation.parse(
            server.url(database: try await server.makeDatabase()) + "&timeout=5&connect_timeout=30")
        try await PostgresServer.withClient(
            location, environment: server.environment, schemas: [PostgresJobStore.schema], logger: Self.logger
        ) { (database: PostgresDatabase) async throws -> Void in
            let queue = PostgresDatumQueue(database: database)
            let (held, holding) = AsyncStream.makeStream(of: Void.self)
            let job = Self.job()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await database.withTransaction("holding the pipeline", extraTime: .seconds(15)) { connection in
                        try await connection.rows("SELECT pg_advisory_xact_lock(hashtext('vigil-job:work'))")
                        holding.yield()
                        try await Task.sleep(for: .seconds(8))
                    }
                }
                for await _ in held { break }
                let started = ContinuousClock.now
                #expect(
                    try await queue.startJob(
                        job, work: JobWork(spec: Self.spec, datums: Self.datums(3)), isAlive: { _ in true }) == nil)
                // It did wait for the holder: the lock was taken before it asked.
                #expect(ContinuousClock.now - started > .seconds(6))
                try await group.waitForAll()
            }
            #expect(try await queue.progress(job: job.id) == JobProgress(total: 3, remaining: 3, failed: 0))
        }
    }

    @Test func racingWorkersClaimEveryDatumExactlyOnce() async throws {
        try await Self.withQueue { queue, _ in
            let job = try await Self.start(300, on: queue)
            let claimed = try await withThrowingTaskGroup(of: [String].self) { group in
                for index in 0..<8 {
                    group.addTask {
                        let worker = Self.worker("w\(index)")
                        var mine: [String] = []
                        while true {
                            let claims = try await queue.claim(pipeline: "work", worker: worker, limit: 7, lease: 30)
                            if claims.isEmpty { return mine }
                            mine += claims.map(\.datum.id)
                            let accepted = try await queue.complete(
                                claims.map { Self.result($0, by: worker.name) }, by: worker)
                            #expect(accepted == Set(claims.map(\.token)))
                        }
                    }
                }
                var all: [String] = []
                for try await part in group { all += part }
                return all
            }
            #expect(claimed.count == 300)
            #expect(Set(claimed) == Set(Self.datums(300).map(\.id)))
            #expect(try await queue.progress(job: job.id) == JobProgress(total: 300, remaining: 0, failed: 0))
        }
    }

    @Test func aResultUnderALeaseThatWasTakenBackIsRefused() async throws {
        try await Self.withQueue { queue, jobs in
            let job = try await Self.start(1, on: queue)
            let slow = Self.worker("slow")
            let other = Self.worker("other")
            let first = try #require(try await queue.claim(pipeline: "work", worker: slow, limit: 1, lease: 0.3).first)
            // Nothing else is claimable while the lease holds.
            #expect(try await queue.claim(pipeline: "work", worker: other, limit: 1, lease: 30).isEmpty)
            try await Task.sleep(for: .milliseconds(500))
            let term = try #require(try await queue.lead("leases", holder: "leader", ttl: 5))
            #expect(
                try await queue.requeueExpired(role: "leases", holder: "leader", term: term, maxExpirations: 5) == 1)
            let second = try #require(try await queue.claim(pipeline: "work", worker: other, limit: 1, lease: 30).first)
            #expect(second.datum.id == first.datum.id)
            #expect(second.token != first.token)
            #expect(second.claims == 2)
            // The slow worker comes back with its result: the fence refuses it.
            #expect(try await queue.complete([Self.result(first, by: "slow")], by: slow).isEmpty)
            #expect(try await queue.progress(job: job.id)?.remaining == 1)
            #expect(try await queue.complete([Self.result(second, by: "other")], by: other) == [second.token])
            #expect(try await queue.progress(job: job.id)?.remaining == 0)
            let record = try #require(try await jobs.datum(job: job.id, id: first.datum.id))
            #expect(record.log == "ran on other")
            // A result sent twice counts once.
            #expect(try await queue.complete([Self.result(second, by: "other")], by: other).isEmpty)
            #expect(try await queue.progress(job: job.id) == JobProgress(total: 1, remaining: 0, failed: 0))
        }
    }

    @Test func finishingABatchAndClaimingTheNextIsOneExchange() async throws {
        try await Self.withQueue { queue, jobs in
            let job = try await Self.start(5, on: queue)
            let worker = Self.worker("pipelined")
            let first = try await queue.claim(pipeline: "work", worker: worker, limit: 2, lease: 30)
            let exchanged = try await queue.complete(
                first.map { Self.result($0, by: "pipelined") }, by: worker, claimingUpTo: 10, lease: 30)
            #expect(exchanged.accepted == Set(first.map(\.token)))
            #expect(exchanged.claims.count == 3)
            #expect(Set(exchanged.claims.map(\.datum.id)).isDisjoint(with: first.map(\.datum.id)))
            #expect(try await queue.progress(job: job.id)?.remaining == 3)
            #expect(try await jobs.datums(job: job.id, state: .success, limit: 10).count == 2)
        }
    }

    @Test func aHeartbeatKeepsALongDatumClaimedAndItsSilenceGivesItBack() async throws {
        try await Self.withQueue { queue, _ in
            _ = try await Self.start(1, on: queue)
            let worker = Self.worker("steady")
            try await queue.register(worker, staleAfter: 30)
            // A lease of 5 s renewed every 0.25 s: a margin that a loaded test machine does not eat.
            let claim = try #require(
                try await queue.claim(pipeline: "work", worker: worker, limit: 1, lease: 5).first)
            let term = try #require(try await queue.lead("leases", holder: "leader", ttl: 30))
            // Longer than a lease, with heartbeats: never taken back, although the datum never finishes.
            let until = ContinuousClock.now + .seconds(7)
            var lastBeat = ContinuousClock.now
            while ContinuousClock.now < until {
                lastBeat = .now
                #expect(try await queue.heartbeat(worker, holding: [claim.token], lease: 5) == [claim.token])
                try await Task.sleep(for: .milliseconds(250))
                #expect(
                    try await queue.requeueExpired(role: "leases", holder: "leader", term: term, maxExpirations: 5) == 0
                )
            }
            let listed = try #require(try await queue.workers().first)
            #expect(listed.worker.name == "steady" && listed.worker.host == "host-steady" && listed.claimed == 1)
            // Silent since its last heartbeat, not longer: a loaded machine can hold this test back for seconds
            // between two statements, so the bound is the time that has passed here, not a constant.
            let since = (ContinuousClock.now - lastBeat).components
            #expect(listed.silentFor <= Double(since.seconds) + Double(since.attoseconds) / 1e18 + 0.1)
            // Silent past its lease: back to the queue, and the worker's next heartbeat says it lost it.
            try await Task.sleep(for: .milliseconds(5_300))
            #expect(
                try await queue.requeueExpired(role: "leases", holder: "leader", term: term, maxExpirations: 5) == 1)
            #expect(try await queue.heartbeat(worker, holding: [claim.token], lease: 5).isEmpty)
        }
    }

    @Test func oneLeaderPerTermAndAnOldLeaderCannotActInANewTerm() async throws {
        try await Self.withQueue { queue, _ in
            _ = try await Self.start(1, on: queue)
            // A lead of 5 s: long enough that a loaded machine does not end it between two statements.
            let first = try #require(try await queue.lead("leases", holder: "a", ttl: 5))
            #expect(try await queue.lead("leases", holder: "b", ttl: 5) == nil)
            #expect(try await queue.lead("leases", holder: "a", ttl: 5) == first)
            _ = try await queue.claim(pipeline: "work", worker: Self.worker("w"), limit: 1, lease: 0.1)
            try await Task.sleep(for: .milliseconds(5_300))
            let second = try #require(try await queue.lead("leases", holder: "b", ttl: 30))
            #expect(second == first + 1)
            // `a` was paused past its lead: it acts on nothing, although the lease it would take back expired.
            #expect(try await queue.requeueExpired(role: "leases", holder: "a", term: first, maxExpirations: 5) == 0)
            #expect(try await queue.lead("leases", holder: "a", ttl: 30) == nil)
            #expect(try await queue.requeueExpired(role: "leases", holder: "b", term: second, maxExpirations: 5) == 1)
        }
    }

    @Test func aDatumWhoseWorkersKeepDyingFailsWithTheReasonInsteadOfKillingThemAll() async throws {
        try await Self.withQueue { queue, jobs in
            let job = try await Self.start(1, on: queue)
            let term = try #require(try await queue.lead("leases", holder: "leader", ttl: 30))
            for attempt in 1...2 {
                let claim = try #require(
                    try await queue.claim(pipeline: "work", worker: Self.worker("w\(attempt)"), limit: 1, lease: 0.1)
                        .first)
                #expect(claim.claims == attempt)
                try await Task.sleep(for: .milliseconds(250))
                #expect(
                    try await queue.requeueExpired(role: "leases", holder: "leader", term: term, maxExpirations: 2) == 1
                )
            }
            #expect(try await queue.claim(pipeline: "work", worker: Self.worker("w3"), limit: 1, lease: 1).isEmpty)
            #expect(try await queue.progress(job: job.id) == JobProgress(total: 1, remaining: 0, failed: 1))
            let failed = try await jobs.datums(job: job.id, state: .failed, limit: 10)
            #expect(failed.count == 1)
            #expect(failed.first?.error?.contains("stopped answering") == true)
        }
    }

    @Test func aWorkerWhoseNameWasTakenOverStopsWithThatError() async throws {
        try await Self.withQueue { queue, jobs in
            var environment = EngineEnvironment(
                store: try makeStore(), jobs: jobs, scratch: FileManager.default.temporaryDirectory,
                logger: Self.logger)
            environment.datumLease = 0.6
            let worker = DatumWorker(
                pipeline: "work", concurrency: 1, name: "taken", queue: queue, environment: environment)
            try await worker.register()
            let error = await #expect(throws: PipelineError.self) {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await worker.runDatums() }
                    // Another worker takes the name, as if this one had looked dead: a staleness below zero
                    // counts any heartbeat as stale, however recent.
                    try await queue.register(Self.worker("taken"), staleAfter: -60)
                    try await group.next()
                }
            }
            #expect(error?.code == .workerReplaced)
            #expect(try await queue.workers().map(\.worker.host) == ["host-taken"])
        }
    }

    @Test func claimsGivenBackByStoppingWorkersDoNotCountAsDeaths() async throws {
        try await Self.withQueue { queue, _ in
            let job = try await Self.start(1, on: queue)
            for round in 1...4 {
                let claim = try #require(
                    try await queue.claim(pipeline: "work", worker: Self.worker("s\(round)"), limit: 1, lease: 30)
                        .first)
                try await queue.release([claim])
            }
            let term = try #require(try await queue.lead("leases", holder: "leader", ttl: 30))
            _ = try await queue.claim(pipeline: "work", worker: Self.worker("dies"), limit: 1, lease: 0.1)
            try await Task.sleep(for: .milliseconds(250))
            // Five claims, one death: back to the queue, not failed.
            #expect(
                try await queue.requeueExpired(role: "leases", holder: "leader", term: term, maxExpirations: 2) == 1)
            #expect(try await queue.progress(job: job.id) == JobProgress(total: 1, remaining: 1, failed: 0))
            #expect(
                try await queue.claim(pipeline: "work", worker: Self.worker("next"), limit: 1, lease: 30).count == 1)
        }
    }

    @Test func aLiveWorkersNameCannotBeTakenButADeadOnesCan() async throws {
        try await Self.withQueue { queue, _ in
            let first = Self.worker("camera-detect-1")
            // Refused while the first is live (heard from within 30 s: however slow this machine is)...
            try await queue.register(first, staleAfter: 30)
            let second = Self.worker("camera-detect-1")
            let error = await #expect(throws: PipelineError.self) {
                try await queue.register(second, staleAfter: 30)
            }
            #expect(error?.code == .workerNameTaken)
            #expect(error?.message.contains("host-camera-detect-1") == true)
            // ...and taken over once it has been silent longer than the given staleness.
            try await Task.sleep(for: .milliseconds(1_200))
            try await queue.register(second, staleAfter: 1)
            let replaced = await #expect(throws: PipelineError.self) {
                _ = try await queue.heartbeat(first, holding: [], lease: 1)
            }
            #expect(replaced?.code == .workerReplaced)
            #expect(try await queue.heartbeat(second, holding: [], lease: 1).isEmpty)
            #expect(try await queue.workers().map(\.worker.instance) == [second.instance])
        }
    }

    @Test func givenBackClaimsAreClaimableAtOnceAndAFinishedJobTakesItsQueueRowsWithIt() async throws {
        try await Self.withQueue { queue, jobs in
            var job = try await Self.start(3, on: queue)
            let claims = try await queue.claim(pipeline: "work", worker: Self.worker("a"), limit: 3, lease: 30)
            #expect(claims.count == 3)
            try await queue.release(Array(claims.prefix(2)))
            let again = try await queue.claim(pipeline: "work", worker: Self.worker("b"), limit: 3, lease: 30)
            #expect(Set(again.map(\.datum.id)) == Set(claims.prefix(2).map(\.datum.id)))
            _ = try await queue.complete((again + [claims[2]]).map { Self.result($0, by: "b") }, by: Self.worker("b"))
            #expect(try await queue.progress(job: job.id)?.remaining == 0)
            job.state = .finished
            try await jobs.finishJob(job, records: [])
            #expect(try await queue.progress(job: job.id) == nil)
            #expect(try await jobs.datums(job: job.id, state: .success, limit: 10).count == 3)
        }
    }
}
