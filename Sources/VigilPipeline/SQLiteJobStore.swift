import Foundation
import GRDB
import Synchronization
import VigilStore

/// `JobStore` on SQLite (WAL, shared safely by the CLI and a running engine), or in memory for tests.
///
/// `synchronous = NORMAL`: a transaction survives a killed process at once and a power cut once the WAL is
/// checkpointed. That is enough here because the output commits are the truth: a job record lost to a power
/// cut is a job run again, producing the same content-addressed outputs.
public final class SQLiteJobStore: JobStore {
    private let database: any DatabaseWriter

    public init(path: String) throws {
        do {
            database = try SQLiteFiles.pool(path: path, synchronous: "NORMAL", migrator: Self.migrator)
        } catch {
            throw PipelineError(.io, "cannot open the pipeline database '\(path)': \(error)", value: path)
        }
    }

    /// The embedded default's file in a data folder.
    public static let fileName = "pipelines.sqlite"

    /// The store in the data folder `home`.
    public static func open(home: URL) throws -> SQLiteJobStore {
        try SQLiteJobStore(path: home.appendingPathComponent(fileName).path)
    }

    /// An in-memory database, gone with the object.
    public init() throws {
        database = try SQLiteFiles.memory(migrator: Self.migrator)
    }

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE pipelines(
                        name TEXT PRIMARY KEY, spec TEXT NOT NULL, source TEXT NOT NULL, version INTEGER NOT NULL,
                        created REAL NOT NULL, updated REAL NOT NULL, run_requested INTEGER NOT NULL);
                    CREATE TABLE jobs(
                        id TEXT PRIMARY KEY, pipeline TEXT NOT NULL, state TEXT NOT NULL, started REAL NOT NULL,
                        body TEXT NOT NULL);
                    CREATE INDEX jobs_by_pipeline ON jobs(pipeline, started);
                    CREATE INDEX jobs_by_state ON jobs(state);
                    CREATE TABLE datums(
                        job TEXT NOT NULL, id TEXT NOT NULL, state TEXT NOT NULL, body TEXT NOT NULL,
                        PRIMARY KEY(job, id));
                    CREATE INDEX datums_by_job ON datums(job, state);
                    """)
        }
        migrator.registerMigration("v2-recompute") { db in
            try db.execute(sql: "ALTER TABLE pipelines ADD COLUMN recompute_requested INTEGER NOT NULL DEFAULT 0")
        }
        // Starting a job looks for the pipeline's running one. Through jobs_by_pipeline that read every job the
        // pipeline ever ran (one per frame on a busy camera pipeline), so each start cost more than the last;
        // only the running few are indexed here.
        migrator.registerMigration("v3-running-jobs") { db in
            try db.execute(sql: "CREATE INDEX jobs_running ON jobs(pipeline, started) WHERE state = 'running'")
        }
        return migrator
    }

    /// Reads on the calling task. A WAL reader never waits for a writer, so this takes tens of microseconds;
    /// the async variant's hop to GRDB's queue and back cost about 100 µs more per read (measured here), and a
    /// pipeline stage makes some twenty reads. Writes stay async: they can wait on another process's lock.
    private func read<T>(_ body: (Database) throws -> T) throws -> T {
        try database.read(body)
    }

    // MARK: Pipelines

    public func putPipeline(_ record: PipelineRecord, expectedVersion: Int?) async throws {
        let spec = try JobRecordCoding.encode(record.spec)
        try await database.write { db in
            let stored = try Int.fetchOne(
                try db.prepared("SELECT version FROM pipelines WHERE name = ?"), arguments: [record.name])
            try PipelineRecord.checkVersion(of: record.name, stored: stored, expected: expectedVersion)
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO pipelines(
                        name, spec, source, version, created, updated, run_requested, recompute_requested)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    record.name, spec, record.source, record.version, record.created.timeIntervalSince1970,
                    record.updated.timeIntervalSince1970, record.runRequested, record.recomputeRequested,
                ])
        }
    }

    public func pipeline(named name: String) async throws -> PipelineRecord? {
        try read { db in
            try Row.fetchOne(try db.prepared("SELECT * FROM pipelines WHERE name = ?"), arguments: [name]).map(
                Self.pipeline)
        }
    }

    public func pipelines() async throws -> [PipelineRecord] {
        try read { db in
            try Row.fetchAll(try db.prepared("SELECT * FROM pipelines ORDER BY name")).map(Self.pipeline)
        }
    }

    public func deletePipeline(named name: String) async throws {
        try await database.write { db in
            try db.prepared("DELETE FROM datums WHERE job IN (SELECT id FROM jobs WHERE pipeline = ?)").execute(
                arguments: [name])
            try db.prepared("DELETE FROM jobs WHERE pipeline = ?").execute(arguments: [name])
            try db.prepared("DELETE FROM pipelines WHERE name = ?").execute(arguments: [name])
            guard db.changesCount > 0 else { throw PipelineError.pipelineNotFound(name) }
        }
    }

    public func setRunRequested(_ requested: Bool, recompute: Bool, pipeline name: String) async throws -> Bool {
        try await database.write { db in
            guard
                let before = try Bool.fetchOne(
                    try db.prepared("SELECT run_requested FROM pipelines WHERE name = ?"), arguments: [name])
            else { throw PipelineError.pipelineNotFound(name) }
            try db.prepared("UPDATE pipelines SET run_requested = ?, recompute_requested = ? WHERE name = ?").execute(
                arguments: [requested, requested && recompute, name])
            return before
        }
    }

    private static func pipeline(_ row: Row) throws -> PipelineRecord {
        var record = PipelineRecord(
            spec: try PipelineSpecCache.spec(row["spec"]), source: row["source"], version: row["version"],
            created: Date(timeIntervalSince1970: row["created"]), updated: Date(timeIntervalSince1970: row["updated"]),
            runRequested: row["run_requested"])
        record.recomputeRequested = row["recompute_requested"]
        return record
    }

    // MARK: Jobs

    public func startJob(_ job: JobInfo, isAlive: @Sendable (JobInfo) -> Bool) async throws -> JobInfo? {
        let body = try JobRecordCoding.encode(job)
        return try await database.write { db in
            let running = try Self.running(pipeline: job.pipeline, in: db)
            if let existing = running.first(where: isAlive) ?? running.first { return existing }
            try db.prepared("INSERT INTO jobs(id, pipeline, state, started, body) VALUES (?, ?, ?, ?, ?)").execute(
                arguments: [job.id, job.pipeline, job.state.rawValue, job.started.timeIntervalSince1970, body])
            return nil
        }
    }

    public func finishJob(_ job: JobInfo, records: [DatumRecord]) async throws {
        let body = try JobRecordCoding.encode(job)
        let bodies = try records.map { try JobRecordCoding.encode($0) }
        try await database.write { db in
            try Self.insert(records, bodies: bodies, in: db)
            try db.prepared("UPDATE jobs SET state = ?, body = ? WHERE id = ? AND state = 'running'").execute(
                arguments: [job.state.rawValue, body, job.id])
            guard db.changesCount > 0 else {
                let exists =
                    try Bool.fetchOne(try db.prepared("SELECT 1 FROM jobs WHERE id = ?"), arguments: [job.id]) != nil
                throw exists ? PipelineError.jobEnded(job.id) : PipelineError.jobNotFound(job.id)
            }
        }
    }

    public func job(id: String) async throws -> JobInfo? {
        try read { db in
            try String.fetchOne(try db.prepared("SELECT body FROM jobs WHERE id = ?"), arguments: [id]).map {
                try JobRecordCoding.decode(JobInfo.self, $0)
            }
        }
    }

    public func jobs(pipeline: String?, limit: Int) async throws -> [JobInfo] {
        try read { db in
            let bodies =
                if let pipeline {
                    try String.fetchAll(
                        try db.prepared(
                            "SELECT body FROM jobs WHERE pipeline = ? ORDER BY started DESC, rowid DESC LIMIT ?"),
                        arguments: [pipeline, limit])
                } else {
                    try String.fetchAll(
                        try db.prepared("SELECT body FROM jobs ORDER BY started DESC, rowid DESC LIMIT ?"),
                        arguments: [limit])
                }
            return try bodies.map { try JobRecordCoding.decode(JobInfo.self, $0) }
        }
    }

    public func runningJobs(pipeline: String?) async throws -> [JobInfo] {
        try read { db in try Self.running(pipeline: pipeline, in: db) }
    }

    /// Jobs still `running`, oldest first, of one pipeline or all: what a step reads, and what starting a job
    /// reads again in its transaction.
    private static func running(pipeline: String?, in db: Database) throws -> [JobInfo] {
        let bodies =
            if let pipeline {
                try String.fetchAll(
                    try db.prepared("SELECT body FROM jobs WHERE state = 'running' AND pipeline = ? ORDER BY started"),
                    arguments: [pipeline])
            } else {
                try String.fetchAll(try db.prepared("SELECT body FROM jobs WHERE state = 'running' ORDER BY started"))
            }
        return try bodies.map { try JobRecordCoding.decode(JobInfo.self, $0) }
    }

    public func newestJob(pipeline: String, ifIn state: JobState) async throws -> JobInfo? {
        try read { db in
            guard
                let row = try Row.fetchOne(
                    try db.prepared(
                        "SELECT state, body FROM jobs WHERE pipeline = ? ORDER BY started DESC, rowid DESC LIMIT 1"),
                    arguments: [pipeline]),
                row["state"] as String == state.rawValue
            else { return nil }
            return try JobRecordCoding.decode(JobInfo.self, row["body"])
        }
    }

    // MARK: Datums

    public func recordDatums(_ records: [DatumRecord]) async throws {
        guard !records.isEmpty else { return }
        let bodies = try records.map { try JobRecordCoding.encode($0) }
        try await database.write { db in try Self.insert(records, bodies: bodies, in: db) }
    }

    private static func insert(_ records: [DatumRecord], bodies: [String], in db: Database) throws {
        guard !records.isEmpty else { return }
        // Each (re)insert takes the next rowid: rowid order is the order datums finished.
        let statement = try db.cachedStatement(
            sql: "INSERT OR REPLACE INTO datums(job, id, state, body) VALUES (?, ?, ?, ?)")
        for (record, body) in zip(records, bodies) {
            try statement.execute(arguments: [record.job, record.datum, record.state.rawValue, body])
        }
    }

    public func datum(job: String, id: String) async throws -> DatumRecord? {
        try read { db in
            try String.fetchOne(
                try db.prepared("SELECT body FROM datums WHERE job = ? AND id = ?"), arguments: [job, id]
            )
            .map { try JobRecordCoding.decode(DatumRecord.self, $0) }
        }
    }

    public func datums(job: String, state: DatumState?, limit: Int) async throws -> [DatumRecord] {
        try read { db in
            let bodies =
                if let state {
                    try String.fetchAll(
                        try db.prepared("SELECT body FROM datums WHERE job = ? AND state = ? ORDER BY rowid LIMIT ?"),
                        arguments: [job, state.rawValue, limit])
                } else {
                    try String.fetchAll(
                        try db.prepared("SELECT body FROM datums WHERE job = ? ORDER BY rowid LIMIT ?"),
                        arguments: [job, limit])
                }
            return try bodies.map { try JobRecordCoding.decode(DatumRecord.self, $0) }
        }
    }

    public func successfulDatums(job: String) async throws -> [String: DatumRecord] {
        try read { db in
            var out: [String: DatumRecord] = [:]
            let cursor = try String.fetchCursor(
                db, sql: "SELECT body FROM datums WHERE job = ? AND state = 'success'", arguments: [job])
            while let body = try cursor.next() {
                let record = try JobRecordCoding.decode(DatumRecord.self, body)
                out[record.datum] = record
            }
            return out
        }
    }

    public func successfulDatums(
        job: String, after position: Int64
    ) async throws -> (records: [DatumRecord], next: Int64) {
        try read { db in
            var records: [DatumRecord] = []
            var next = position
            let rows = try Row.fetchCursor(
                db,
                sql: "SELECT rowid, body FROM datums WHERE job = ? AND state = 'success' AND rowid > ? ORDER BY rowid",
                arguments: [job, position])
            while let row = try rows.next() {
                next = row[0]
                records.append(try JobRecordCoding.decode(DatumRecord.self, row[1] as String))
            }
            return (records, next)
        }
    }
}

extension SQLiteJobStore: CommitsByOthers {
    public func commitsByOthers() async throws -> Int {
        try await SQLiteFiles.commitsByOthers(database)
    }
}
