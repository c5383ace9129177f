import Foundation
import PostgresNIO
import VigilStore

/// `DatumQueue` on the shared PostgreSQL database (its tables are part of `PostgresJobStore.schema`).
///
/// - `job_work`: one row per job with recorded work: the spec it runs with, how many datums are left and
///   failed. Finishing a datum counts it down, so the one that finishes the last wakes the coordinator,
///   whichever worker it was (a row lock orders them).
/// - `datum_queue`: one row per datum: `waiting`, `claimed` (by a worker, under a token, until its lease ends),
///   `done` or `failed`. The rows go with the job's final record (`PostgresJobStore.finishJob`).
/// - `workers` and `leaders`: who is alive, and who requeues expired leases.
///
/// Every time a lease is measured by is the database's clock (`clock_timestamp()`), so hosts whose clocks
/// disagree still agree on who holds what.
public final class PostgresDatumQueue: DatumQueue {
    private let database: VigilStore.PostgresDatabase

    /// The queue on `database`, whose `PostgresJobStore.schema` must have been applied.
    public init(database: VigilStore.PostgresDatabase) {
        self.database = database
    }

    /// The database's clock, in seconds since 1970.
    static let now = "extract(epoch FROM clock_timestamp())"
    /// Datums inserted per statement when a job starts.
    static let insertChunk = 2_000
    /// Datums a transaction that records a job's work is expected to insert per second, at the least: its
    /// deadline grows with the job (a million datums get the query timeout plus about 17 minutes). Each
    /// statement keeps the query timeout, so a server that stops answering is still noticed. Under a whole
    /// test suite's load this machine inserted fewer than 5,000 a second.
    static let slowestInsertsPerSecond = 1_000.0

    /// The time beyond the query timeout that recording `count` datums is given.
    static func insertTime(_ count: Int) -> Duration {
        .seconds(Double(count) / slowestInsertsPerSecond)
    }

    // MARK: Jobs

    public func startJob(
        _ job: JobInfo, work: JobWork?, isAlive: @Sendable (JobInfo) -> Bool
    ) async throws -> JobInfo? {
        let body = try JobRecordCoding.encode(job)
        let encoded = try work.map(Self.encode)
        return try await withoutActuallyEscaping(isAlive) { isAlive in
            try await PostgresJobStore.start(
                job, on: database, extraTime: Self.insertTime(encoded?.ids.count ?? 0), isAlive: isAlive
            ) { connection in
                guard let encoded else { return }
                try await PostgresJobStore.insert(job, body: body, on: connection)
                try await Self.insert(encoded, job: job, on: connection)
            }
        }
    }

    public func addWork(_ work: JobWork, to job: JobInfo) async throws {
        let encoded = try Self.encode(work)
        try await database.withTransaction(
            "recording the datums of job \(job.id)", extraTime: Self.insertTime(encoded.ids.count)
        ) { connection in
            try await Self.insert(encoded, job: job, on: connection)
        }
    }

    /// A job's work as rows: the spec's text and each datum once, with its JSON.
    private struct EncodedWork: Sendable {
        var specHash: String
        var spec: String
        var ids: [String]
        var datums: [String]
    }

    private static func encode(_ work: JobWork) throws -> EncodedWork {
        var seen = Set<String>()
        var encoded = EncodedWork(
            specHash: work.spec.specHash, spec: try JobRecordCoding.encode(work.spec), ids: [], datums: [])
        for datum in work.datums where seen.insert(datum.id).inserted {
            encoded.ids.append(datum.id)
            encoded.datums.append(try JobRecordCoding.encode(datum))
        }
        return encoded
    }

    private static func insert(_ work: EncodedWork, job: JobInfo, on connection: PostgresConnection) async throws {
        let count = work.ids.count
        try await connection.rows(
            """
            INSERT INTO job_work(job, pipeline, spec_hash, spec, total, remaining, failed)
            VALUES (\(job.id), \(job.pipeline), \(work.specHash), \(work.spec), \(count), \(count), 0)
            """)
        for start in stride(from: 0, to: count, by: insertChunk) {
            let end = min(start + insertChunk, count)
            try await connection.rows(
                """
                INSERT INTO datum_queue(job, id, pipeline, datum)
                SELECT \(job.id), id, \(job.pipeline), datum
                FROM unnest(\(Array(work.ids[start..<end]))::text[], \(Array(work.datums[start..<end]))::text[])
                     WITH ORDINALITY AS given(id, datum, position)
                ORDER BY position
                """)
        }
        if count > 0 { try await notify(.datums(job.pipeline), on: connection) }
    }

    public func progress(job: String) async throws -> JobProgress? {
        try await database.rows(
            "reading the progress of job \(job)", "SELECT total, remaining, failed FROM job_work WHERE job = \(job)"
        ).first.map {
            let (total, remaining, failed) = try $0.decode((Int, Int, Int).self)
            return JobProgress(total: total, remaining: remaining, failed: failed)
        }
    }

    public func spec(job: String) async throws -> PipelineSpec? {
        try await database.rows("reading the spec of job \(job)", "SELECT spec FROM job_work WHERE job = \(job)")
            .first.map { try PipelineSpecCache.spec(try $0.decode(String.self)) }
    }

    // MARK: Claims

    public func claim(pipeline: String, worker: WorkerRecord, limit: Int, lease: Double) async throws -> [DatumClaim] {
        guard limit > 0 else { return [] }
        return try await database.withConnection("claiming datums of '\(pipeline)'") { connection in
            try await Self.claim(pipeline: pipeline, worker: worker.name, limit: limit, lease: lease, on: connection)
        }
    }

    private static func claim(
        pipeline: String, worker: String, limit: Int, lease: Double, on connection: PostgresConnection
    ) async throws -> [DatumClaim] {
        try await connection.rows(
            """
            UPDATE datum_queue q SET state = 'claimed', owner = \(worker), token = nextval('datum_claim_tokens'),
                lease_until = \(unescaped: now) + \(lease), claims = q.claims + 1
            FROM (SELECT job, id FROM datum_queue WHERE pipeline = \(pipeline) AND state = 'waiting'
                  ORDER BY seq LIMIT \(limit) FOR UPDATE SKIP LOCKED) picked, job_work w
            WHERE q.job = picked.job AND q.id = picked.id AND w.job = q.job
            RETURNING q.job, w.spec_hash, q.datum, q.token, q.claims
            """
        ).map { row in
            let (job, specHash, datum, token, claims) = try row.decode((String, String, String, Int64, Int).self)
            return DatumClaim(
                job: job, pipeline: pipeline, specHash: specHash, datum: try JobRecordCoding.decode(Datum.self, datum),
                token: token, claims: claims)
        }
    }

    public func complete(
        _ results: [DatumResult], by worker: WorkerRecord, claimingUpTo limit: Int, lease: Double
    )
        async throws -> (accepted: Set<Int64>, claims: [DatumClaim])
    {
        if results.isEmpty {
            return ([], try await claim(pipeline: worker.pipeline, worker: worker, limit: limit, lease: lease))
        }
        let bodies = try results.map { try JobRecordCoding.encode($0.record) }
        return try await database.withTransaction("recording finished datums") { connection in
            let accepted = try await Self.complete(results, bodies: bodies, by: worker.name, on: connection)
            guard limit > 0 else { return (accepted, []) }
            return (
                accepted,
                try await Self.claim(
                    pipeline: worker.pipeline, worker: worker.name, limit: limit, lease: lease, on: connection)
            )
        }
    }

    /// Records results whose claims still hold, counts their jobs down and wakes the coordinators of jobs
    /// that have nothing left; returns the accepted tokens.
    private static func complete(
        _ results: [DatumResult], bodies: [String], by worker: String?, on connection: PostgresConnection
    ) async throws -> Set<Int64> {
        let rows = try await connection.rows(
            """
            WITH given AS (
                SELECT * FROM unnest(\(results.map(\.claim.job))::text[], \(results.map(\.claim.datum.id))::text[],
                                     \(results.map(\.claim.token))::bigint[],
                                     \(results.map(\.record.state.rawValue))::text[], \(bodies)::text[])
                    AS g(job, id, token, state, body)),
            accepted AS (
                UPDATE datum_queue q SET state = CASE g.state WHEN 'success' THEN 'done' ELSE 'failed' END,
                    owner = NULL, lease_until = NULL
                FROM given g
                WHERE q.job = g.job AND q.id = g.id AND q.token = g.token AND q.state = 'claimed'
                RETURNING q.job, q.id, q.token, g.state, g.body),
            recorded AS (
                INSERT INTO datums(job, id, state, body) SELECT job, id, state, body FROM accepted
                ON CONFLICT (job, id) DO UPDATE SET state = excluded.state, body = excluded.body,
                    seq = nextval('datums_finished')),
            counted AS (
                UPDATE job_work w SET remaining = w.remaining - c.finished, failed = w.failed + c.failed
                FROM (SELECT job, count(*) AS finished, count(*) FILTER (WHERE state = 'failed') AS failed
                      FROM accepted GROUP BY job) c
                WHERE w.job = c.job
                RETURNING w.job, w.remaining),
            credited AS (
                UPDATE workers SET finished = finished + (SELECT count(*) FROM accepted) WHERE name = \(worker))
            SELECT token, NULL::text FROM accepted
            UNION ALL SELECT NULL, job FROM counted WHERE remaining = 0
            """)
        var accepted = Set<Int64>()
        for row in rows {
            let (token, done) = try row.decode((Int64?, String?).self)
            if let token { accepted.insert(token) }
            if let done { try await notify(.jobWorkDone(done), on: connection) }
        }
        return accepted
    }

    public func release(_ claims: [DatumClaim]) async throws {
        guard !claims.isEmpty else { return }
        try await database.withTransaction("giving datums back") { connection in
            let pipelines = try await connection.rows(
                """
                WITH back AS (
                    UPDATE datum_queue SET state = 'waiting', owner = NULL, lease_until = NULL
                    WHERE state = 'claimed' AND token = ANY(\(claims.map(\.token))::bigint[])
                    RETURNING pipeline)
                SELECT DISTINCT pipeline FROM back
                """
            ).map { try $0.decode(String.self) }
            for pipeline in pipelines { try await Self.notify(.datums(pipeline), on: connection) }
        }
    }

    // MARK: Workers

    public func register(_ worker: WorkerRecord, staleAfter: Double) async throws {
        try await database.withTransaction("registering worker '\(worker.name)'") { connection in
            let taken = try await connection.rows(
                """
                INSERT INTO workers(name, instance, pipeline, host, version, concurrency, state, last_error, started,
                                    heartbeat, finished)
                VALUES (\(worker.name), \(worker.instance), \(worker.pipeline), \(worker.host), \(worker.version),
                        \(worker.concurrency), \(worker.state), \(worker.lastError), \(unescaped: Self.now),
                        \(unescaped: Self.now), 0)
                ON CONFLICT (name) DO UPDATE SET instance = excluded.instance, pipeline = excluded.pipeline,
                    host = excluded.host, version = excluded.version, concurrency = excluded.concurrency,
                    state = excluded.state, last_error = excluded.last_error, started = excluded.started,
                    heartbeat = excluded.heartbeat, finished = 0
                WHERE workers.instance = excluded.instance OR workers.heartbeat < \(unescaped: Self.now) - \(staleAfter)
                RETURNING 1
                """
            ).isEmpty
            guard taken else { return }
            let holder = try await connection.rows(
                "SELECT host, pipeline, \(unescaped: Self.now) - heartbeat FROM workers WHERE name = \(worker.name)"
            ).first.map { try $0.decode((String, String, Double).self) }
            throw PipelineError(
                .workerNameTaken,
                "a worker named '\(worker.name)' is running"
                    + (holder.map {
                        " on \($0.0) for pipeline '\($0.1)' (heard from \(String(format: "%.0f", $0.2)) s ago)"
                    } ?? "") + "; give this one another --name, or stop that one first",
                value: worker.name)
        }
    }

    public func heartbeat(_ worker: WorkerRecord, holding tokens: [Int64], lease: Double) async throws -> Set<Int64> {
        try await database.withTransaction("the heartbeat of worker '\(worker.name)'") { connection in
            // Datum rows first, then the worker's row: the order `complete` takes them in, so a heartbeat and
            // the same worker's results never wait for each other's locks.
            let still =
                tokens.isEmpty
                ? []
                : try await connection.rows(
                    """
                    UPDATE datum_queue SET lease_until = \(unescaped: Self.now) + \(lease)
                    WHERE state = 'claimed' AND owner = \(worker.name) AND token = ANY(\(tokens)::bigint[])
                    RETURNING token
                    """
                ).map { try $0.decode(Int64.self) }
            let alive = try await connection.rows(
                """
                UPDATE workers SET heartbeat = \(unescaped: Self.now), state = \(worker.state),
                    last_error = \(worker.lastError), concurrency = \(worker.concurrency)
                WHERE name = \(worker.name) AND instance = \(worker.instance) RETURNING 1
                """)
            guard !alive.isEmpty else {
                throw PipelineError(
                    .workerReplaced,
                    "worker '\(worker.name)' was taken over by another worker of that name (this one looked dead); "
                        + "it stops", value: worker.name)
            }
            return Set(still)
        }
    }

    public func unregister(_ worker: WorkerRecord) async throws {
        _ = try await database.rows(
            "unregistering worker '\(worker.name)'",
            "DELETE FROM workers WHERE name = \(worker.name) AND instance = \(worker.instance)")
    }

    public func workers() async throws -> [WorkerStatus] {
        try await database.rows(
            "listing workers",
            """
            SELECT w.name, w.instance, w.pipeline, w.host, w.version, w.concurrency, w.state, w.last_error,
                   w.started, w.heartbeat, \(unescaped: Self.now) - w.heartbeat, w.finished,
                   (SELECT count(*) FROM datum_queue q WHERE q.state = 'claimed' AND q.owner = w.name)
            FROM workers w ORDER BY w.pipeline, w.name
            """
        ).map { row in
            let (
                name, instance, pipeline, host, version, concurrency, state, lastError, started, heartbeat, silent,
                finished, claimed
            ) = try row.decode(
                (String, String, String, String, String, Int, String, String?, Double, Double, Double, Int, Int).self)
            return WorkerStatus(
                worker: WorkerRecord(
                    name: name, instance: instance, pipeline: pipeline, host: host, version: version,
                    concurrency: concurrency, state: state, lastError: lastError),
                started: Date(timeIntervalSince1970: started), heartbeat: Date(timeIntervalSince1970: heartbeat),
                silentFor: silent, claimed: claimed, finished: finished)
        }
    }

    // MARK: Leadership

    public func lead(_ role: String, holder: String, ttl: Double) async throws -> Int64? {
        try await database.rows(
            "taking the lead for \(role)",
            """
            INSERT INTO leaders(role, holder, term, until) VALUES (\(role), \(holder), 1, \(unescaped: Self.now) + \(ttl))
            ON CONFLICT (role) DO UPDATE SET holder = excluded.holder, until = excluded.until,
                term = leaders.term + CASE WHEN leaders.holder = excluded.holder THEN 0 ELSE 1 END
            WHERE leaders.holder = excluded.holder OR leaders.until < \(unescaped: Self.now)
            RETURNING term
            """
        ).first.map { try $0.decode(Int64.self) }
    }

    public func requeueExpired(role: String, holder: String, term: Int64, maxExpirations: Int) async throws -> Int {
        try await database.withTransaction("requeueing expired datum leases") { connection in
            // Only the leader of this term acts; a leader that lost the lead meanwhile does nothing.
            guard
                try await !connection.rows(
                    """
                    SELECT 1 FROM leaders WHERE role = \(role) AND holder = \(holder) AND term = \(term)
                        AND until >= \(unescaped: Self.now) FOR SHARE
                    """
                ).isEmpty
            else { return 0 }
            let expired = try await connection.rows(
                """
                SELECT job, pipeline, datum, token, claims, expirations FROM datum_queue
                WHERE state = 'claimed' AND lease_until < \(unescaped: Self.now)
                ORDER BY lease_until LIMIT 1000 FOR UPDATE SKIP LOCKED
                """
            ).map { row in
                let (job, pipeline, datum, token, claims, expirations) = try row.decode(
                    (String, String, String, Int64, Int, Int).self)
                let claim = DatumClaim(
                    job: job, pipeline: pipeline, specHash: "",
                    datum: try JobRecordCoding.decode(Datum.self, datum), token: token, claims: claims)
                return (claim: claim, expirations: expirations + 1)
            }
            guard !expired.isEmpty else { return 0 }
            // A datum whose leases ran out again and again (one that kills its worker) fails instead of taking
            // every worker down in turn. Claims given back by stopping workers do not count.
            let doomed = expired.filter { $0.expirations >= maxExpirations }
            let back = expired.filter { $0.expirations < maxExpirations }.map(\.claim)
            if !back.isEmpty {
                try await connection.rows(
                    """
                    UPDATE datum_queue SET state = 'waiting', owner = NULL, lease_until = NULL,
                        expirations = expirations + 1
                    WHERE state = 'claimed' AND token = ANY(\(back.map(\.token))::bigint[])
                    """)
                for pipeline in Set(back.map(\.pipeline)) { try await Self.notify(.datums(pipeline), on: connection) }
            }
            if !doomed.isEmpty {
                let now = Date()
                let results = doomed.map { claim, expirations in
                    DatumResult(
                        claim: claim,
                        record: DatumRecord(
                            job: claim.job, datum: claim.datum.id, state: .failed, attempts: claim.claims,
                            inputs: claim.datum.inputs, outputs: [],
                            error: "its worker stopped answering while it ran, \(expirations) times (killed, or out "
                                + "of memory?); the datum is not tried again until the next job",
                            started: now, finished: now))
                }
                _ = try await Self.complete(
                    results, bodies: try results.map { try JobRecordCoding.encode($0.record) }, by: nil,
                    on: connection)
            }
            // Workers silent for a day are gone for good.
            try await connection.rows("DELETE FROM workers WHERE heartbeat < \(unescaped: Self.now) - 86400")
            return expired.count
        }
    }

    // MARK: Wake-ups

    private static func notify(_ change: Change, on connection: PostgresConnection) async throws {
        try await connection.rows("SELECT pg_notify(\(PostgresChangeFeed.channel), \(change.payload))")
    }
}
