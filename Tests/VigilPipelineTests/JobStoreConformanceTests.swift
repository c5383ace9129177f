import Foundation
import Logging
import ServerTestSupport
import Synchronization
import Testing
import VigilPipeline
import VigilStore

/// One suite, run against every `JobStore` implementation: a new implementation joins `JobStoreKind`.
enum JobStoreKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqliteFile
    case sqliteMemory
    /// `PostgresJobStore` on a real PostgreSQL (a fresh database per test), when Debian's server is there or
    /// on CI.
    case postgres

    var testDescription: String { rawValue }

    static let testable: [JobStoreKind] = PostgresServer.canRun ? allCases : [.sqliteFile, .sqliteMemory]
    /// The kinds where a second store object (another process's view) can open the same database.
    static let shareable = testable.filter { $0 != .sqliteMemory }

    static let logger = Logger(label: "job-store-test") { _ in SwiftLogNoOpLogHandler() }

    /// Runs `body` with a fresh, empty store and, where the kind allows, a second one on the same database.
    func withStores(_ body: @Sendable (any JobStore, (any JobStore)?) async throws -> Void) async throws {
        switch self {
        case .sqliteFile:
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("jobs-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: folder) }
            let path = folder.appendingPathComponent("jobs.sqlite").path
            try await body(try SQLiteJobStore(path: path), try SQLiteJobStore(path: path))
        case .sqliteMemory:
            try await body(try SQLiteJobStore(), nil)
        case .postgres:
            let server = try await PostgresServer.shared()
            try await server.withDatabase(schemas: [PostgresJobStore.schema], logger: Self.logger) { database in
                try await PostgresServer.withClient(
                    database.location, environment: server.environment, logger: Self.logger
                ) { other in
                    try await body(PostgresJobStore(database: database), PostgresJobStore(database: other))
                }
            }
        }
    }

    func withStore(_ body: @Sendable (any JobStore) async throws -> Void) async throws {
        try await withStores { store, _ in try await body(store) }
    }
}

private func pipeline(_ name: String, version: Int = 1) throws -> PipelineRecord {
    let source = "{name: \(name), input: {pfs: {repo: images, glob: '/*'}}, transform: {stage: noop}}"
    return PipelineRecord(
        spec: try PipelineSpecParser.parse(source), source: source, version: version,
        created: Date(timeIntervalSince1970: 1_000), updated: Date(timeIntervalSince1970: 1_000 + Double(version)),
        runRequested: false)
}

private func job(
    _ id: String, pipeline: String = "detect", holder: String = "host:1:a", at seconds: Double = 10
)
    -> JobInfo
{
    JobInfo(
        id: id, pipeline: pipeline, specHash: "spec", inputs: [CommitReference(repo: "images", commit: "c1")],
        inputCommits: ["images": "c1"], baseOutput: nil, full: true, holder: holder,
        started: Date(timeIntervalSince1970: seconds))
}

private func datum(_ id: String, job: String, state: DatumState = .success) -> DatumRecord {
    DatumRecord(
        job: job, datum: id, state: state, attempts: 1, inputs: [], outputs: [], error: state == .failed ? "no" : nil,
        log: "log of \(id)", started: Date(timeIntervalSince1970: 20), finished: Date(timeIntervalSince1970: 21))
}

@Suite("JobStore conformance")
struct JobStoreConformanceTests {
    @Test(arguments: JobStoreKind.testable)
    func pipelinesAreCreatedUpdatedByVersionAndDeleted(kind: JobStoreKind) async throws {
        try await kind.withStore { store in
            try await store.putPipeline(try pipeline("detect"), expectedVersion: nil)
            try await store.putPipeline(try pipeline("analytics"), expectedVersion: nil)
            #expect(try await store.pipelines().map(\.name) == ["analytics", "detect"])
            #expect(try await store.pipeline(named: "detect") == (try pipeline("detect")))

            let exists = await #expect(throws: PipelineError.self) {
                try await store.putPipeline(try pipeline("detect"), expectedVersion: nil)
            }
            #expect(exists?.code == .pipelineExists)
            let stale = await #expect(throws: PipelineError.self) {
                try await store.putPipeline(try pipeline("detect", version: 3), expectedVersion: 2)
            }
            #expect(stale?.code == .conflict)
            try await store.putPipeline(try pipeline("detect", version: 2), expectedVersion: 1)
            #expect(try await store.pipeline(named: "detect")?.version == 2)
            let missing = await #expect(throws: PipelineError.self) {
                try await store.putPipeline(try pipeline("ghost", version: 2), expectedVersion: 1)
            }
            #expect(missing?.code == .pipelineNotFound)

            #expect(try await !store.setRunRequested(true, recompute: true, pipeline: "detect"))
            let requested = try #require(try await store.pipeline(named: "detect"))
            #expect(requested.runRequested && requested.recomputeRequested)
            #expect(try await store.setRunRequested(false, recompute: false, pipeline: "detect"))

            #expect(try await store.startJob(job("j1"), isAlive: { _ in true }) == nil)
            try await store.recordDatums([datum("d1", job: "j1")])
            try await store.deletePipeline(named: "detect")
            #expect(try await store.pipeline(named: "detect") == nil)
            #expect(try await store.job(id: "j1") == nil)
            #expect(try await store.datum(job: "j1", id: "d1") == nil)
            let gone = await #expect(throws: PipelineError.self) { try await store.deletePipeline(named: "detect") }
            #expect(gone?.code == .pipelineNotFound)
        }
    }

    @Test(arguments: JobStoreKind.testable)
    func onlyOneJobOfAPipelineRunsAndACrashedOneIsHandedBack(kind: JobStoreKind) async throws {
        try await kind.withStore { store in
            #expect(try await store.startJob(job("j1"), isAlive: { _ in true }) == nil)
            // A live job blocks a second one; a dead one is handed back for resuming.
            #expect(try await store.startJob(job("j2", at: 11), isAlive: { _ in true })?.id == "j1")
            #expect(try await store.startJob(job("j2", at: 11), isAlive: { _ in false })?.id == "j1")
            #expect(try await store.startJob(job("other", pipeline: "threats"), isAlive: { _ in true }) == nil)
            #expect(try await store.runningJobs().map(\.id) == ["j1", "other"])

            var finished = job("j1")
            finished.state = .finished
            finished.counts.processed = 2
            finished.finished = Date(timeIntervalSince1970: 30)
            try await store.finishJob(finished, records: [datum("d1", job: "j1"), datum("d2", job: "j1")])
            #expect(try await store.job(id: "j1") == finished)
            #expect(try await store.runningJobs().map(\.id) == ["other"])
            #expect(try await store.startJob(job("j3", at: 40), isAlive: { _ in true }) == nil)
            #expect(try await store.jobs(pipeline: "detect", limit: 10).map(\.id) == ["j3", "j1"])
            #expect(try await store.jobs(pipeline: nil, limit: 2).map(\.id) == ["j3", "other"])

            let missing = await #expect(throws: PipelineError.self) { try await store.updateJob(job("nope")) }
            #expect(missing?.code == .jobNotFound)

            // A late writer (an engine that took the job for its own after all) cannot undo its ending.
            var late = job("j1", holder: "host:2:b")
            late.heartbeat = Date(timeIntervalSince1970: 50)
            let ended = await #expect(throws: PipelineError.self) { try await store.updateJob(late) }
            #expect(ended?.code == .conflict)
            #expect(try await store.job(id: "j1") == finished)
        }
    }

    @Test(arguments: JobStoreKind.testable)
    func aPipelinesRunningJobsAndItsNewestJobInAStateAreReadOnTheirOwn(kind: JobStoreKind) async throws {
        try await kind.withStore { store in
            #expect(try await store.newestJob(pipeline: "detect", ifIn: .running) == nil)
            #expect(try await store.startJob(job("t1", pipeline: "threats", at: 5), isAlive: { _ in true }) == nil)
            #expect(try await store.startJob(job("j1"), isAlive: { _ in true }) == nil)
            #expect(try await store.startJob(job("o1", pipeline: "other", at: 20), isAlive: { _ in true }) == nil)
            #expect(try await store.runningJobs(pipeline: "detect").map(\.id) == ["j1"])
            #expect(try await store.runningJobs(pipeline: "threats").map(\.id) == ["t1"])
            #expect(try await store.runningJobs(pipeline: "nothing").isEmpty)
            #expect(try await store.runningJobs(pipeline: nil).map(\.id) == ["t1", "j1", "o1"])
            #expect(try await store.newestJob(pipeline: "detect", ifIn: .running)?.id == "j1")
            #expect(try await store.newestJob(pipeline: "detect", ifIn: .failed) == nil)

            var failed = job("j1")
            failed.state = .failed
            failed.error = "the stage cannot start"
            try await store.finishJob(failed, records: [])
            #expect(try await store.runningJobs(pipeline: "detect").isEmpty)
            #expect(try await store.newestJob(pipeline: "detect", ifIn: .failed) == failed)
            #expect(try await store.newestJob(pipeline: "detect", ifIn: .running) == nil)
            // Only the newest counts: a failed job followed by a running one is not "failed".
            #expect(try await store.startJob(job("j2", at: 30), isAlive: { _ in true }) == nil)
            #expect(try await store.newestJob(pipeline: "detect", ifIn: .failed) == nil)
            #expect(try await store.newestJob(pipeline: "detect", ifIn: .running)?.id == "j2")
            // Jobs started in the same second: the one recorded last is the newest.
            #expect(try await store.startJob(job("o2", pipeline: "other", at: 20), isAlive: { _ in false })?.id == "o1")
            var ended = job("o1", pipeline: "other", at: 20)
            ended.state = .finished
            try await store.finishJob(ended, records: [])
            #expect(try await store.startJob(job("o2", pipeline: "other", at: 20), isAlive: { _ in true }) == nil)
            #expect(try await store.newestJob(pipeline: "other", ifIn: .running)?.id == "o2")
            #expect(try await store.newestJob(pipeline: "other", ifIn: .finished) == nil)
        }
    }

    @Test(arguments: JobStoreKind.testable)
    func datumRecordsKeepTheOrderTheyFinishedIn(kind: JobStoreKind) async throws {
        try await kind.withStore { store in
            #expect(try await store.startJob(job("j1"), isAlive: { _ in true }) == nil)
            try await store.recordDatums([datum("c", job: "j1"), datum("a", job: "j1", state: .failed)])
            try await store.recordDatums([datum("b", job: "j1")])
            // A retried datum replaces its record and moves to the end.
            try await store.recordDatums([datum("a", job: "j1")])
            #expect(try await store.datums(job: "j1", state: nil, limit: 10).map(\.datum) == ["c", "b", "a"])
            #expect(try await store.datums(job: "j1", state: .success, limit: 2).map(\.datum) == ["c", "b"])
            #expect(try await store.datums(job: "j1", state: .failed, limit: 10).isEmpty)
            #expect(try await store.datum(job: "j1", id: "b") == datum("b", job: "j1"))
            #expect(try await Set(store.successfulDatums(job: "j1").keys) == ["a", "b", "c"])
        }
    }

    @Test(arguments: JobStoreKind.testable)
    func successfulDatumsAreReadOnFromWhereTheLastReadEnded(kind: JobStoreKind) async throws {
        try await kind.withStore { store in
            #expect(try await store.startJob(job("j1"), isAlive: { _ in true }) == nil)
            #expect(try await store.startJob(job("j2", pipeline: "other"), isAlive: { _ in true }) == nil)
            try await store.recordDatums([datum("c", job: "j1"), datum("a", job: "j1", state: .failed)])
            try await store.recordDatums([datum("b", job: "j1"), datum("x", job: "j2")])
            let first = try await store.successfulDatums(job: "j1", after: 0)
            #expect(first.records.map(\.datum) == ["c", "b"])
            #expect(first.next > 0)
            // A datum that succeeds on a retry comes after the position, like one finished for the first time.
            try await store.recordDatums([datum("d", job: "j1"), datum("a", job: "j1"), datum("y", job: "j2")])
            let second = try await store.successfulDatums(job: "j1", after: first.next)
            #expect(second.records.map(\.datum) == ["d", "a"])
            #expect(second.records.last == datum("a", job: "j1"))
            #expect(second.next > first.next)
            let third = try await store.successfulDatums(job: "j1", after: second.next)
            #expect(third.records.isEmpty)
            #expect(third.next == second.next)
            #expect(try await store.successfulDatums(job: "j2", after: 0).records.map(\.datum) == ["x", "y"])
        }
    }

    @Test(arguments: JobStoreKind.shareable)
    func enginesInTwoProcessesNeverStartTheSamePipelineTwice(kind: JobStoreKind) async throws {
        try await kind.withStores { first, second in
            let stores = [first, try #require(second)]
            // Sixteen starters, half through each store, race for one pipeline: one job is recorded and every
            // other starter gets that job back.
            let outcomes = try await withThrowingTaskGroup(of: String.self) { group in
                for index in 0..<16 {
                    let store = stores[index % 2]
                    group.addTask {
                        let mine = job("j\(index)", holder: "host:\(index):x")
                        return try await store.startJob(mine, isAlive: { _ in true })?.id ?? mine.id
                    }
                }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(Set(outcomes).count == 1)
            #expect(try await first.runningJobs().count == 1)
        }
    }
}
