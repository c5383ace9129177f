import Foundation
import Logging
import ServerTestSupport
import Testing
import VigilBackends
import VigilStore

@testable import VigilPipeline

/// Jobs whose datums go through the queue on a real PostgreSQL (a worker in the engine's process, as
/// `vigil pipeline run` runs one) make the outputs the embedded engine makes, through new inputs, removed
/// ones and a full job, although their commits are assembled differently: from workers' records while they
/// come in, with the index entries of datums recorded together stored as one pack.
@Suite("queued jobs on PostgreSQL", .enabled(if: PostgresServer.canRun, Comment(rawValue: PostgresServer.skipReason)))
struct QueuedJobTests {
    static let logger = Logger(label: "queued-test") { _ in SwiftLogNoOpLogHandler() }
    /// Datums that wait 40 ms, two at a time: long enough a job for its commit to be written early, in parts.
    static let spec = """
        {name: copies, input: {pfs: {repo: images, glob: '/*'}}, parallelism: 2,
         transform: {stage: copy, options: {delayMilliseconds: '40'}}}
        """

    @Test func aQueuedJobMakesTheOutputTheEmbeddedEngineMakes() async throws {
        let server = try await PostgresServer.shared()
        let url = server.url(database: try await server.makeDatabase())
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-queued-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: home) }
        let embedded = try await EngineFixture()
        defer { embedded.cleanUp() }
        try await Backends.with(
            home: home, configuration: StoreConfiguration(database: url), create: true,
            environment: ProcessInfo.processInfo.environment.merging(server.environment) { $1 }, logger: Self.logger
        ) { backends in
            var environment = try backends.engineEnvironment(stages: .builtIn)
            environment.queue = SlowToRecord(try #require(environment.queue))
            let queued = Side(store: backends.store, environment: environment)
            let alone = Side(store: embedded.store, environment: embedded.environment)
            #expect(alone.environment.queue == nil)
            let frames = Dictionary(
                uniqueKeysWithValues: (0..<40).map { ("/cam\($0 % 3)-\(1_700_000_000 + $0).jpg", "frame \($0)") })
            for side in [queued, alone] {
                try await side.store.createRepo("images")
                try await PipelineManager(environment: side.environment).create(
                    try PipelineSpecParser.parse(Self.spec), source: Self.spec)
            }

            // New inputs, then some removed and others added (the removed ones' entries are read from packs).
            try await Self.expectSameOutputs(queued, alone, processed: 40, removed: 0) { store in
                try await commit(frames, to: "images", in: store)
            }
            let gone = frames.keys.sorted().prefix(5)
            try await Self.expectSameOutputs(queued, alone, processed: 3, removed: 5) { store in
                try await commit(
                    [
                        "/cam7-1700000100.jpg": "late 1", "/cam7-1700000101.jpg": "late 2",
                        "/cam8-1700000102.jpg": "late",
                    ],
                    to: "images", in: store, deleting: Array(gone))
            }
            // A full job lists every datum and finds what is gone by reading every entry of the index.
            let more = frames.keys.sorted().dropFirst(5).prefix(4)
            try await Self.expectSameOutputs(queued, alone, processed: 0, removed: 4) { store in
                try await commit([:], to: "images", in: store, deleting: Array(more))
            } before: { side in
                try await PipelineManager(environment: side.environment).requestRun("copies")
            }

            // Datums that finished while a worker's results were being recorded went into its next record
            // together: their index entries share a pack.
            let head = try #require(try await queued.store.resolveCommit("copies", ref: nil))
            let entries = try await queued.store.listMeta(head, "/datums")
            #expect(entries.count == 34)
            #expect(Set(entries.map(\.hash)).count < entries.count)
        }
    }

    /// A service's worker that stops on an error (here: another process took its name over) is replaced, so
    /// the pipeline's datums do not wait for ever for a worker somewhere else.
    @Test func anEnginesWorkerThatStopsOnAnErrorIsReplaced() async throws {
        let server = try await PostgresServer.shared()
        let url = server.url(database: try await server.makeDatabase())
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-queued-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: home) }
        try await Backends.with(
            home: home, configuration: StoreConfiguration(database: url), create: true,
            environment: ProcessInfo.processInfo.environment.merging(server.environment) { $1 }, logger: Self.logger
        ) { backends in
            var environment = try backends.engineEnvironment(stages: .builtIn)
            environment.datumLease = 1.5
            environment.stepRetry = Backoff(base: 0.2, maximum: 1)
            let queue = try #require(environment.queue)
            try await backends.store.createRepo("images")
            let spec = "{name: copies, input: {pfs: {repo: images, glob: '/*'}}, transform: {stage: copy}}"
            try await PipelineManager(environment: environment).create(try PipelineSpecParser.parse(spec), source: spec)
            let engine = PipelineEngine(environment: environment)
            let name = "\(environment.holder):copies"
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await engine.run() }
                #expect(await waitFor { (try? await queue.workers().contains { $0.worker.name == name }) == true })
                // Another process takes the name over: the engine's worker hears so at its next heartbeat and
                // stops; the one that replaces it registers once the usurper's registration is stale.
                let usurper = WorkerRecord(
                    name: name, pipeline: "copies", host: "usurper", version: VigilVersion.current, concurrency: 1)
                try await queue.register(usurper, staleAfter: 0)
                #expect(
                    await waitFor {
                        (try? await queue.workers().contains { $0.worker.name == name && $0.worker.host != "usurper" })
                            == true
                    })
                try await commit(
                    ["/cam1-1700000000.jpg": "one", "/cam2-1700000001.jpg": "two"], to: "images", in: backends.store)
                #expect(
                    await waitFor {
                        (try? await backends.store.resolveCommit("copies", ref: nil))??.tree.files == 2
                    })
                engine.stopGracefully()
                try await group.waitForAll()
            }
        }
    }

    @Test func anIndexEntryIsFoundInItsPackByItsDatum() throws {
        let entries = (0..<3).map { index in
            DatumIndex.Entry(
                datum: "d\(index)", job: "j", inputs: [], outputs: [])
        }
        let pack = try DatumIndex.encodePack(entries.reversed())
        for entry in entries {
            #expect(try DatumIndex.entry(of: entry.datum, from: pack, at: "/datums/\(entry.datum)") == entry)
        }
        // A lone entry (what the embedded engine stores) still reads.
        let lone = try DatumIndex.encode(entries[1])
        #expect(try DatumIndex.entry(of: "d1", from: lone, at: "/datums/d1") == entries[1])
        let error = #expect(throws: PipelineError.self) {
            try DatumIndex.entry(of: "d9", from: pack, at: "/datums/d9")
        }
        #expect(error?.description.contains("d9") == true)
    }

    /// One engine's side of the comparison.
    struct Side {
        let store: VersionedStore
        let environment: EngineEnvironment

        /// The output's files (path → hash) and its tree's hash.
        func output() async throws -> (files: [String: BlobHash], tree: BlobHash) {
            let head = try #require(try await store.resolveCommit("copies", ref: nil))
            var files: [String: BlobHash] = [:]
            try await store.trees.walkFiles(under: head.tree.hash) { path, entry in files[path] = entry.hash }
            return (files, head.tree.hash)
        }
    }

    /// Makes the same change on both sides, runs each engine until idle, and expects equal outputs and counts.
    static func expectSameOutputs(
        _ queued: Side, _ alone: Side, processed: Int, removed: Int,
        change: (VersionedStore) async throws -> Void, before: (Side) async throws -> Void = { _ in }
    ) async throws {
        var outcomes: [(files: [String: BlobHash], tree: BlobHash)] = []
        for side in [queued, alone] {
            try await change(side.store)
            try await before(side)
            let jobs = try await PipelineEngine(environment: side.environment).runUntilIdle()
            let job = try #require(jobs.last)
            #expect(job.state == .finished, "\(job.error ?? "")")
            #expect(job.counts.processed == processed)
            #expect(job.counts.removed == removed)
            outcomes.append(try await side.output())
        }
        #expect(outcomes[0].files == outcomes[1].files)
        #expect(outcomes[0].tree == outcomes[1].tree)
        #expect(!outcomes[0].files.isEmpty)
    }
}

/// The shared queue, slow to record results (a busy database): a worker's other slots finish datums meanwhile,
/// which it then records together.
struct SlowToRecord: DatumQueue {
    let base: any DatumQueue

    init(_ base: any DatumQueue) {
        self.base = base
    }

    func complete(
        _ results: [DatumResult], by worker: WorkerRecord, claimingUpTo limit: Int, lease: Double
    ) async throws -> (accepted: Set<Int64>, claims: [DatumClaim]) {
        if !results.isEmpty { try await Task.sleep(for: .milliseconds(100)) }
        return try await base.complete(results, by: worker, claimingUpTo: limit, lease: lease)
    }

    func startJob(_ job: JobInfo, work: JobWork?, isAlive: @Sendable (JobInfo) -> Bool) async throws -> JobInfo? {
        try await base.startJob(job, work: work, isAlive: isAlive)
    }
    func addWork(_ work: JobWork, to job: JobInfo) async throws { try await base.addWork(work, to: job) }
    func progress(job: String) async throws -> JobProgress? { try await base.progress(job: job) }
    func claim(pipeline: String, worker: WorkerRecord, limit: Int, lease: Double) async throws -> [DatumClaim] {
        try await base.claim(pipeline: pipeline, worker: worker, limit: limit, lease: lease)
    }
    func spec(job: String) async throws -> PipelineSpec? { try await base.spec(job: job) }
    func release(_ claims: [DatumClaim]) async throws { try await base.release(claims) }
    func register(_ worker: WorkerRecord, staleAfter: Double) async throws {
        try await base.register(worker, staleAfter: staleAfter)
    }
    func heartbeat(_ worker: WorkerRecord, holding tokens: [Int64], lease: Double) async throws -> Set<Int64> {
        try await base.heartbeat(worker, holding: tokens, lease: lease)
    }
    func unregister(_ worker: WorkerRecord) async throws { try await base.unregister(worker) }
    func workers() async throws -> [WorkerStatus] { try await base.workers() }
    func lead(_ role: String, holder: String, ttl: Double) async throws -> Int64? {
        try await base.lead(role, holder: holder, ttl: ttl)
    }
    func requeueExpired(role: String, holder: String, term: Int64, maxExpirations: Int) async throws -> Int {
        try await base.requeueExpired(role: role, holder: holder, term: term, maxExpirations: maxExpirations)
    }
}
