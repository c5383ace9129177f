import Foundation
import PostgresNIO
import VigilStore

/// `JobStore` on the shared PostgreSQL database, for engines on many hosts. Records are stored as the same
/// JSON as on SQLite, beside the columns that are queried. Recording a new job takes a transaction-scoped
/// advisory lock on its pipeline, so two engines that start the same pipeline at once see each other's job: one
/// records it, the other gets it back. Changes to pipelines (created, updated, asked to run, deleted) notify the change
/// feed, so every engine hears of them at once.
public final class PostgresJobStore: JobStore {
    private let database: VigilStore.PostgresDatabase

    /// The store on `database`, whose `schema` must have been applied (the composition root does it).
    public init(database: VigilStore.PostgresDatabase) {
        self.database = database
    }

    public static let schema = PostgresSchema(
        component: "jobs",
        migrations: [
            [
                """
                CREATE TABLE pipelines(
                    name text COLLATE "C" PRIMARY KEY, spec text NOT NULL, source text NOT NULL,
                    version integer NOT NULL, created double precision NOT NULL, updated double precision NOT NULL,
                    run_requested boolean NOT NULL, recompute_requested boolean NOT NULL)
                """,
                """
                CREATE TABLE jobs(
                    id text COLLATE "C" PRIMARY KEY, seq bigint GENERATED ALWAYS AS IDENTITY,
                    pipeline text COLLATE "C" NOT NULL, state text NOT NULL, started double precision NOT NULL,
                    body text NOT NULL)
                """,
                "CREATE INDEX jobs_by_pipeline ON jobs(pipeline, started, seq)",
                "CREATE INDEX jobs_running ON jobs(pipeline, started) WHERE state = 'running'",
                "CREATE SEQUENCE datums_finished",
                """
                CREATE TABLE datums(
                    job text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL, state text NOT NULL,
                    body text NOT NULL, seq bigint NOT NULL DEFAULT nextval('datums_finished'),
                    PRIMARY KEY(job, id))
                """,
                "CREATE INDEX datums_by_job ON datums(job, seq)",
            ],
            // Datums as claimable work (`PostgresDatumQueue`).
            [
                """
                CREATE TABLE job_work(
                    job text COLLATE "C" PRIMARY KEY, pipeline text COLLATE "C" NOT NULL, spec_hash text NOT NULL,
                    spec text NOT NULL, total integer NOT NULL, remaining integer NOT NULL, failed integer NOT NULL)
                """,
                "CREATE SEQUENCE datum_claim_tokens",
                """
                CREATE TABLE datum_queue(
                    job text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL, pipeline text COLLATE "C" NOT NULL,
                    datum text NOT NULL, state text NOT NULL DEFAULT 'waiting', owner text, token bigint,
                    lease_until double precision, claims integer NOT NULL DEFAULT 0,
                    expirations integer NOT NULL DEFAULT 0,
                    seq bigint GENERATED ALWAYS AS IDENTITY, PRIMARY KEY(job, id))
                """,
                "CREATE INDEX datum_queue_waiting ON datum_queue(pipeline, seq) WHERE state = 'waiting'",
                "CREATE INDEX datum_queue_leases ON datum_queue(lease_until) WHERE state = 'claimed'",
                "CREATE INDEX datum_queue_owners ON datum_queue(owner) WHERE state = 'claimed'",
                """
                CREATE TABLE workers(
                    name text COLLATE "C" PRIMARY KEY, instance text NOT NULL, pipeline text NOT NULL,
                    host text NOT NULL, version text NOT NULL, concurrency integer NOT NULL, state text NOT NULL,
                    last_error text, started double precision NOT NULL, heartbeat double precision NOT NULL,
                    finished bigint NOT NULL)
                """,
                """
                CREATE TABLE leaders(
                    role text PRIMARY KEY, holder text NOT NULL, term bigint NOT NULL, until double precision NOT NULL)
                """,
            ],
        ])

    // MARK: Pipelines

    public func putPipeline(_ record: PipelineRecord, expectedVersion: Int?) async throws {
        let spec = try JobRecordCoding.encode(record.spec)
        try await database.withTransaction("saving pipeline '\(record.name)'") { connection in
            let stored = try await connection.rows(
                "SELECT version FROM pipelines WHERE name = \(record.name) FOR UPDATE"
            ).first.map { try $0.decode(Int.self) }
            try PipelineRecord.checkVersion(of: record.name, stored: stored, expected: expectedVersion)
            // A racing create loses on the primary key: the same answer as the check above.
            let inserted = try await connection.rows(
                """
                INSERT INTO pipelines(
                    name, spec, source, version, created, updated, run_requested, recompute_requested)
                VALUES (\(record.name), \(spec), \(record.source), \(record.version),
                        \(record.created.timeIntervalSince1970), \(record.updated.timeIntervalSince1970),
                        \(record.runRequested), \(record.recomputeRequested))
                ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, source = excluded.source,
                    version = excluded.version, created = excluded.created, updated = excluded.updated,
                    run_requested = excluded.run_requested, recompute_requested = excluded.recompute_requested
                WHERE \(stored != nil)
                \(unescaped: Self.notifying)
                """)
            if inserted.isEmpty {
                throw PipelineError.pipelineExists(record.name)
            }
        }
    }

    public func pipeline(named name: String) async throws -> PipelineRecord? {
        // Prepared, as are the pipeline's running jobs and its newest job: every pipeline step reads all three.
        try await database.preparedRows(
            "reading pipeline '\(name)'",
            "SELECT \(unescaped: Self.pipelineColumns) FROM pipelines WHERE name = \(name)"
        ).first.map(Self.pipeline)
    }

    public func pipelines() async throws -> [PipelineRecord] {
        try await database.rows(
            "listing pipelines", "SELECT \(unescaped: Self.pipelineColumns) FROM pipelines ORDER BY name"
        ).map(Self.pipeline)
    }

    public func deletePipeline(named name: String) async throws {
        try await database.withTransaction("deleting pipeline '\(name)'") { connection in
            try await connection.rows("DELETE FROM datums WHERE job IN (SELECT id FROM jobs WHERE pipeline = \(name))")
            try await connection.rows("DELETE FROM datum_queue WHERE pipeline = \(name)")
            try await connection.rows("DELETE FROM job_work WHERE pipeline = \(name)")
            try await connection.rows("DELETE FROM jobs WHERE pipeline = \(name)")
            let deleted = try await connection.rows(
                "DELETE FROM pipelines WHERE name = \(name) \(unescaped: Self.notifying)")
            guard !deleted.isEmpty else { throw PipelineError.pipelineNotFound(name) }
        }
    }

    public func setRunRequested(_ requested: Bool, recompute: Bool, pipeline name: String) async throws -> Bool {
        try await database.withTransaction("asking pipeline '\(name)' to run") { connection in
            guard
                let before = try await connection.rows(
                    "SELECT run_requested FROM pipelines WHERE name = \(name) FOR UPDATE"
                ).first.map({ try $0.decode(Bool.self) })
            else { throw PipelineError.pipelineNotFound(name) }
            try await connection.rows(
                """
                UPDATE pipelines SET run_requested = \(requested), recompute_requested = \(requested && recompute)
                WHERE name = \(name) \(unescaped: Self.notifying)
                """)
            return before
        }
    }

    private static let pipelineColumns =
        "spec, source, version, created, updated, run_requested, recompute_requested"

    private static func pipeline(_ row: PostgresRow) throws -> PipelineRecord {
        let (spec, source, version, created, updated, runRequested, recomputeRequested) = try row.decode(
            (String, String, Int, Double, Double, Bool, Bool).self)
        var record = PipelineRecord(
            spec: try PipelineSpecCache.spec(spec), source: source, version: version,
            created: Date(timeIntervalSince1970: created), updated: Date(timeIntervalSince1970: updated),
            runRequested: runRequested)
        record.recomputeRequested = recomputeRequested
        return record
    }

    /// A changed pipeline row's `RETURNING`: wakes every engine's change feed when the transaction commits.
    private static let notifying = PostgresChangeFeed.notifying(Change.pipelinePrefix, column: "name")

    // MARK: Jobs

    public func startJob(_ job: JobInfo, isAlive: @Sendable (JobInfo) -> Bool) async throws -> JobInfo? {
        let body = try JobRecordCoding.encode(job)
        // The transactions run (and end) within this call, so `isAlive` does not outlive it.
        return try await withoutActuallyEscaping(isAlive) { isAlive in
            try await Self.start(job, on: database, isAlive: isAlive) { connection in
                try await Self.insert(job, body: body, on: connection)
            }
        }
    }

    /// Starts `job` unless another job of its pipeline is running (see `JobStore.startJob`): `record` writes
    /// the new job in a transaction that holds the pipeline's advisory lock. Returns nil when it was recorded.
    static func start(
        _ job: JobInfo, on database: VigilStore.PostgresDatabase, extraTime: Duration = .zero,
        isAlive: @escaping @Sendable (JobInfo) -> Bool,
        record: @escaping @Sendable (PostgresConnection) async throws -> Void
    ) async throws -> JobInfo? {
        let operation = "starting a job of '\(job.pipeline)'"
        var wait = 5
        while true {
            // An uncontended start is the one transaction it always was (a try-lock where a lock was).
            let attempt = try await database.withTransaction(operation, extraTime: extraTime) {
                connection -> StartAttempt in
                // Never waiting in the server's lock queue: a wait there would count against this attempt's
                // deadline, which is for a server that stopped answering, and a queue of starters (engines
                // racing after an outage) would outlast it. The holder is about to commit; this one reads again.
                guard try await Self.tryLockJobStarts(of: job.pipeline, on: connection) else { return .busy }
                if let existing = try await Self.runningJob(of: job.pipeline, isAlive: isAlive, on: connection) {
                    return .existing(existing)
                }
                try await record(connection)
                return .started
            }
            switch attempt {
            case .started: return nil
            case .existing(let existing): return existing
            case .busy:
                // Backing off (to 200 ms between looks): a holder that takes long is not polled hard.
                try await Task.sleep(for: .milliseconds(Int.random(in: wait...(2 * wait))))
                wait = min(wait * 2, 100)
            }
        }
    }

    private enum StartAttempt: Sendable {
        case started
        case existing(JobInfo)
        /// Another starter of the same pipeline held the lock.
        case busy
    }

    /// Within a transaction that starts a job: locks the pipeline's job starts (across every process, until
    /// the transaction ends) if no other transaction holds that lock; false if one does.
    static func tryLockJobStarts(of pipeline: String, on connection: PostgresConnection) async throws -> Bool {
        let rows = try await connection.rows(
            "SELECT pg_try_advisory_xact_lock(hashtext(\("vigil-job:" + pipeline)))")
        guard let row = rows.first else { return false }
        return try row.decode(Bool.self)
    }

    /// The running job a new one must not race (a live one first), if any.
    static func runningJob(
        of pipeline: String, isAlive: (JobInfo) -> Bool, on connection: PostgresConnection
    ) async throws -> JobInfo? {
        let running = try await connection.rows(
            "SELECT body FROM jobs WHERE pipeline = \(pipeline) AND state = 'running' ORDER BY started, seq"
        ).map { try JobRecordCoding.decode(JobInfo.self, try $0.decode(String.self)) }
        return running.first(where: isAlive) ?? running.first
    }

    static func insert(_ job: JobInfo, body: String, on connection: PostgresConnection) async throws {
        try await connection.rows(
            """
            INSERT INTO jobs(id, pipeline, state, started, body)
            VALUES (\(job.id), \(job.pipeline), \(job.state.rawValue), \(job.started.timeIntervalSince1970), \(body))
            """)
    }

    public func finishJob(_ job: JobInfo, records: [DatumRecord]) async throws {
        let body = try JobRecordCoding.encode(job)
        let bodies = try records.map { try JobRecordCoding.encode($0) }
        try await database.withTransaction("recording job \(job.id)") { connection in
            try await Self.insert(records, bodies: bodies, on: connection)
            let updated = try await connection.rows(
                """
                UPDATE jobs SET state = \(job.state.rawValue), body = \(body)
                WHERE id = \(job.id) AND state = 'running' RETURNING 1
                """)
            guard !updated.isEmpty else {
                let exists = try await !connection.rows("SELECT 1 FROM jobs WHERE id = \(job.id)").isEmpty
                throw exists ? PipelineError.jobEnded(job.id) : PipelineError.jobNotFound(job.id)
            }
            if job.state.isDone {
                // A finished job's queued work has served: its datum records stay, the queue rows go.
                try await connection.rows("DELETE FROM datum_queue WHERE job = \(job.id)")
                try await connection.rows("DELETE FROM job_work WHERE job = \(job.id)")
            }
        }
    }

    public func job(id: String) async throws -> JobInfo? {
        try await database.rows("reading job \(id)", "SELECT body FROM jobs WHERE id = \(id)").first.map {
            try JobRecordCoding.decode(JobInfo.self, try $0.decode(String.self))
        }
    }

    public func jobs(pipeline: String?, limit: Int) async throws -> [JobInfo] {
        try await database.rows(
            "listing jobs",
            """
            SELECT body FROM jobs WHERE \(pipeline)::text IS NULL OR pipeline = \(pipeline)
            ORDER BY started DESC, seq DESC LIMIT \(limit)
            """
        ).map { try JobRecordCoding.decode(JobInfo.self, try $0.decode(String.self)) }
    }

    public func runningJobs(pipeline: String?) async throws -> [JobInfo] {
        let rows =
            if let pipeline {
                try await database.preparedRows(
                    "listing running jobs",
                    "SELECT body FROM jobs WHERE state = 'running' AND pipeline = \(pipeline) ORDER BY started, seq")
            } else {
                try await database.preparedRows(
                    "listing running jobs", "SELECT body FROM jobs WHERE state = 'running' ORDER BY started, seq")
            }
        return try rows.map { try JobRecordCoding.decode(JobInfo.self, try $0.decode(String.self)) }
    }

    public func newestJob(pipeline: String, ifIn state: JobState) async throws -> JobInfo? {
        guard
            let row = try await database.preparedRows(
                "reading the newest job of \(pipeline)",
                "SELECT state, body FROM jobs WHERE pipeline = \(pipeline) ORDER BY started DESC, seq DESC LIMIT 1"
            ).first
        else { return nil }
        let (stored, body) = try row.decode((String, String).self)
        return stored == state.rawValue ? try JobRecordCoding.decode(JobInfo.self, body) : nil
    }

    // MARK: Datums

    public func recordDatums(_ records: [DatumRecord]) async throws {
        guard !records.isEmpty else { return }
        let bodies = try records.map { try JobRecordCoding.encode($0) }
        try await database.withTransaction("recording datums") { connection in
            try await Self.insert(records, bodies: bodies, on: connection)
        }
    }

    /// Inserts or replaces, in one statement; a replaced record takes the next place in the finishing order.
    private static func insert(
        _ records: [DatumRecord], bodies: [String], on connection: PostgresConnection
    ) async throws {
        guard !records.isEmpty else { return }
        try await connection.rows(
            """
            INSERT INTO datums(job, id, state, body)
            SELECT job, id, state, body
            FROM unnest(\(records.map(\.job))::text[], \(records.map(\.datum))::text[],
                        \(records.map(\.state.rawValue))::text[], \(bodies)::text[]) WITH ORDINALITY
                 AS given(job, id, state, body, position)
            ORDER BY position
            ON CONFLICT (job, id) DO UPDATE SET state = excluded.state, body = excluded.body,
                seq = nextval('datums_finished')
            """)
    }

    public func datum(job: String, id: String) async throws -> DatumRecord? {
        try await database.rows(
            "reading datum \(id) of job \(job)", "SELECT body FROM datums WHERE job = \(job) AND id = \(id)"
        ).first.map { try JobRecordCoding.decode(DatumRecord.self, try $0.decode(String.self)) }
    }

    public func datums(job: String, state: DatumState?, limit: Int) async throws -> [DatumRecord] {
        try await database.rows(
            "listing the datums of job \(job)",
            """
            SELECT body FROM datums WHERE job = \(job) AND (\(state?.rawValue)::text IS NULL OR state = \(state?.rawValue))
            ORDER BY seq LIMIT \(limit)
            """
        ).map { try JobRecordCoding.decode(DatumRecord.self, try $0.decode(String.self)) }
    }

    public func successfulDatums(job: String) async throws -> [String: DatumRecord] {
        var out: [String: DatumRecord] = [:]
        for row in try await database.rows(
            "reading the finished datums of job \(job)",
            "SELECT body FROM datums WHERE job = \(job) AND state = 'success'")
        {
            let record = try JobRecordCoding.decode(DatumRecord.self, try row.decode(String.self))
            out[record.datum] = record
        }
        return out
    }

    public func successfulDatums(
        job: String, after position: Int64
    ) async throws -> (records: [DatumRecord], next: Int64) {
        var records: [DatumRecord] = []
        var next = position
        for row in try await database.rows(
            "reading the datums job \(job) finished lately",
            "SELECT seq, body FROM datums WHERE job = \(job) AND state = 'success' AND seq > \(position) ORDER BY seq")
        {
            let (seq, body) = try row.decode((Int64, String).self)
            next = seq
            records.append(try JobRecordCoding.decode(DatumRecord.self, body))
        }
        return (records, next)
    }
}
