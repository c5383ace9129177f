import Foundation
import GRDB
import VigilStages
import VigilStore

/// `AlertStore` in SQLite: `<home>/alerts.sqlite` on the embedded default, or in memory. Shared by the
/// notifiers, the API and the CLI of one host (one writer at a time; readers never wait).
///
/// `synchronous = NORMAL`: every transaction survives a killed process; a power cut may lose the last few,
/// which costs no alert: an ingest lost with its cursor is read again, a delivery lost is sent again under the
/// same idempotency key (the receiver drops the repeat). Ingesting a batch of threats and moving the cursor
/// past them is one transaction, so a crash can neither skip a threat nor alert twice.
public final class SQLiteAlertStore: AlertStore {
    private let database: any DatabaseWriter

    public init(path: String) throws {
        do {
            database = try SQLiteFiles.pool(path: path, synchronous: "NORMAL", migrator: Self.migrator)
        } catch {
            throw AlertError(.io, "cannot open the alerts database '\(path)': \(error)", value: path)
        }
    }

    /// An in-memory database, gone with the object (tests).
    public init() throws {
        database = try SQLiteFiles.memory(migrator: Self.migrator)
    }

    /// The embedded default: `<home>/alerts.sqlite`.
    public static func open(home: URL) throws -> SQLiteAlertStore {
        try SQLiteAlertStore(path: home.appendingPathComponent(fileName).path)
    }

    public static let fileName = "alerts.sqlite"

    private static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE alerts(
                        id TEXT PRIMARY KEY, state TEXT NOT NULL, level INTEGER NOT NULL, customer TEXT NOT NULL,
                        device TEXT NOT NULL, time INTEGER NOT NULL, threat TEXT NOT NULL, record TEXT NOT NULL,
                        acknowledge_within REAL NOT NULL, created REAL NOT NULL, escalate_at REAL, acknowledged REAL,
                        acknowledged_by TEXT);
                    CREATE INDEX alerts_by_escalation ON alerts(escalate_at) WHERE escalate_at IS NOT NULL;
                    CREATE INDEX alerts_by_device_time ON alerts(device, time);
                    CREATE INDEX alerts_by_state ON alerts(state);
                    CREATE TABLE deliveries(
                        alert TEXT NOT NULL, level INTEGER NOT NULL, contact TEXT NOT NULL,
                        idempotency_key TEXT NOT NULL UNIQUE, state TEXT NOT NULL, attempts INTEGER NOT NULL,
                        next_attempt REAL NOT NULL, last_status INTEGER, last_error TEXT, delivered REAL,
                        created REAL NOT NULL, PRIMARY KEY(alert, level));
                    CREATE INDEX deliveries_due ON deliveries(next_attempt) WHERE state = 'pending';
                    CREATE TABLE cursors(repo TEXT PRIMARY KEY, commit_id TEXT NOT NULL);
                    """)
        }
        // Why a delivery died (`outage`, `refused`, `expired`): deaths by outage are revived when the API
        // answers again. The wait for an acknowledgement now starts when a contact's delivery is queued, so an
        // outage does not stop escalation.
        migrator.registerMigration("v2") { db in
            try db.execute(
                sql: """
                    ALTER TABLE deliveries ADD COLUMN dead_reason TEXT;
                    UPDATE deliveries SET dead_reason =
                        CASE WHEN last_error LIKE 'refused%' THEN 'refused' ELSE 'outage' END
                    WHERE state = 'dead';
                    UPDATE alerts SET escalate_at = acknowledge_within + (
                        SELECT d.created FROM deliveries d WHERE d.alert = alerts.id AND d.level = alerts.level)
                    WHERE state = 'open' AND escalate_at IS NULL;
                    CREATE INDEX deliveries_dead ON deliveries(created) WHERE state = 'dead';
                    CREATE INDEX deliveries_pending_age ON deliveries(created) WHERE state = 'pending';
                    """)
        }
        // Claims: a notifier that takes a due delivery holds it until `claimed_until`, so notifiers sharing the
        // store do not all send it.
        migrator.registerMigration("v3") { db in
            try db.execute(sql: "ALTER TABLE deliveries ADD COLUMN claimed_until REAL")
        }
        // Escalations due are looked for on every pass of the notifier, among the open alerts that wait for an
        // acknowledgement: an index on exactly those (SQLite otherwise picked alerts_by_state and read every open
        // alert, 2.8 ms per look at 6,200 of them).
        migrator.registerMigration("v4") { db in
            try db.execute(
                sql: """
                    DROP INDEX alerts_by_escalation;
                    CREATE INDEX alerts_escalation_due ON alerts(escalate_at) WHERE state = 'open' AND escalate_at IS NOT NULL;
                    """)
        }
        migrator.registerMigration("v5-alert-traces") { db in
            try db.execute(sql: "ALTER TABLE alerts ADD COLUMN trace TEXT")
        }
        // The ids of alerts forgotten past retention: ingest never adds them again.
        migrator.registerMigration("v6-forgotten-alerts") { db in
            try db.execute(sql: "CREATE TABLE forgotten_alerts(id TEXT PRIMARY KEY, forgotten REAL NOT NULL)")
        }
        // A customer's alerts, newest first (its dashboard and API), and its alerts past retention: one seek
        // each instead of a pass over every customer's alerts.
        migrator.registerMigration("v7-alerts-by-customer") { db in
            try db.execute(sql: "CREATE INDEX alerts_by_customer_time ON alerts(customer, time)")
        }
        return migrator
    }

    /// Reads on the calling task, as in SQLiteJobStore: a WAL reader never waits for a writer, and the notifier
    /// reads several times per pass, where a hop to GRDB's reader queue and back would cost more than the read.
    private func read<T>(_ body: (Database) throws -> T) throws -> T {
        try database.read(body)
    }

    // MARK: Ingest

    public func cursor(of repo: String) async throws -> String? {
        try read { db in try Self.cursor(db, repo) }
    }

    private static func cursor(_ db: Database, _ repo: String) throws -> String? {
        try String.fetchOne(try db.prepared("SELECT commit_id FROM cursors WHERE repo = ?"), arguments: [repo])
    }

    public func ingest(
        _ threats: [(record: ThreatRecord, address: String)], traces: [String: TraceHeaders], repo: String,
        from previous: String?, to commit: String, now: Date, claiming claim: DeliveryClaim
    ) async throws -> Ingested {
        let rows = try threats.map { threat in
            (AlertInfo.id(for: threat.record), threat, try AlertStoreRules.encoder.encode(threat.record))
        }
        return try await database.write { db in
            var added: [AlertInfo] = []
            var claimed: [(delivery: DeliveryInfo, alert: AlertInfo)] = []
            for (id, threat, body) in rows where !threat.record.contacts.isEmpty {
                try db.prepared(
                    """
                    INSERT OR IGNORE INTO alerts(
                        id, state, level, customer, device, time, threat, record, acknowledge_within, created,
                        escalate_at, trace)
                    SELECT ?, 'open', 0, ?, ?, ?, ?, ?, ?, ?, ?, ?
                    WHERE NOT EXISTS (SELECT 1 FROM forgotten_alerts WHERE id = ?)
                    """
                ).execute(
                    arguments: [
                        id, threat.record.customer, threat.record.device, threat.record.time, threat.address,
                        String(decoding: body, as: UTF8.self), threat.record.acknowledgeWithin,
                        now.timeIntervalSince1970, now.timeIntervalSince1970 + threat.record.acknowledgeWithin,
                        traces[threat.address]?.columnText, id,
                    ])
                guard db.changesCount > 0 else { continue }
                let claiming = claimed.count < claim.limit
                try Self.insertDelivery(
                    db, alert: id, level: 0, record: threat.record, now: now,
                    claimedUntil: claiming ? now.addingTimeInterval(claim.lease) : nil)
                let alert = AlertInfo(
                    id: id, state: .open, level: 0, customer: threat.record.customer, device: threat.record.device,
                    time: threat.record.time, threat: threat.address, record: threat.record, created: now,
                    escalateAt: now.addingTimeInterval(threat.record.acknowledgeWithin), trace: traces[threat.address])
                added.append(alert)
                if claiming { claimed.append((.queued(for: alert, level: 0, at: now), alert)) }
            }
            let moved = try Self.cursor(db, repo) == previous
            if moved {
                try db.prepared("INSERT OR REPLACE INTO cursors(repo, commit_id) VALUES (?, ?)").execute(arguments: [
                    repo, commit,
                ])
            }
            return Ingested(added: added, claimed: claimed, movedCursor: moved)
        }
    }

    /// Queues the delivery of `alert` to its contact at `level`, claimed until `claimedUntil` when given.
    private static func insertDelivery(
        _ db: Database, alert: String, level: Int, record: ThreatRecord, now: Date, claimedUntil: Date? = nil
    )
        throws
    {
        try db.prepared(
            """
            INSERT OR IGNORE INTO deliveries(
                alert, level, contact, idempotency_key, state, attempts, next_attempt, created, claimed_until)
            VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?)
            """
        ).execute(
            arguments: [
                alert, level, record.contacts[level].name, AlertInfo.idempotencyKey(alert: alert, level: level),
                now.timeIntervalSince1970, now.timeIntervalSince1970, claimedUntil?.timeIntervalSince1970,
            ])
    }

    // MARK: Delivering

    /// Deliveries due at `now` that nobody holds (as SQL, with the time twice).
    private static let due = """
        state = 'pending' AND next_attempt <= ? AND (claimed_until IS NULL OR claimed_until <= ?)
        """
    // The notifier's every pass runs these: constant SQL (from the constants here), each prepared once per
    // connection rather than compiled on every pass.
    private static let anyDue = "SELECT EXISTS(SELECT 1 FROM deliveries WHERE \(due))"
    private static let dueDeliveries = "SELECT * FROM deliveries WHERE \(due) ORDER BY next_attempt LIMIT ?"

    public func claimDue(
        at now: Date, lease: TimeInterval, excluding: Set<String>, limit: Int
    ) async throws -> [(DeliveryInfo, AlertInfo)] {
        let stamp = now.timeIntervalSince1970
        // Most passes find nothing due: a read says so without taking the write lock.
        let any = try read { db in
            try Bool.fetchOne(try db.cachedStatement(sql: Self.anyDue), arguments: [stamp, stamp]) ?? false
        }
        guard any else { return [] }
        return try await database.write { db in
            let rows = try Row.fetchAll(
                try db.cachedStatement(sql: Self.dueDeliveries), arguments: [stamp, stamp, limit + excluding.count])
            var out: [(DeliveryInfo, AlertInfo)] = []
            for row in rows {
                let delivery = Self.delivery(row)
                guard !excluding.contains(delivery.idempotencyKey), out.count < limit,
                    let alert = try Self.alert(db, id: delivery.alert)
                else { continue }
                try db.prepared("UPDATE deliveries SET claimed_until = ? WHERE idempotency_key = ?").execute(
                    arguments: [stamp + lease, delivery.idempotencyKey])
                out.append((delivery, alert))
            }
            return out
        }
    }

    public func nextDue(after now: Date) async throws -> Date? {
        try read { db in
            let stamp = now.timeIntervalSince1970
            let times = [
                try Double.fetchOne(try db.cachedStatement(sql: Self.nextAttempt), arguments: [stamp]),
                try Double.fetchOne(try db.cachedStatement(sql: Self.nextEscalation), arguments: [stamp]),
            ].compactMap { $0 }
            return times.min().map { Date(timeIntervalSince1970: $0) }
        }
    }

    public func pendingCount() async throws -> Int {
        try read { db in
            try Int.fetchOne(try db.prepared("SELECT COUNT(*) FROM deliveries WHERE state = 'pending'")) ?? 0
        }
    }

    @discardableResult
    public func record(
        _ outcome: DeliveryOutcome, for key: String, at now: Date, retry: RetryPolicy,
        random: @escaping @Sendable (ClosedRange<Double>) -> Double
    ) async throws -> DeliveryInfo.State? {
        try await database.write { db in
            guard
                let row = try Row.fetchOne(
                    try db.prepared(
                        "SELECT alert, level, state, attempts, created FROM deliveries WHERE idempotency_key = ?"),
                    arguments: [key])
            else { return nil }
            // An acknowledgement that came while the request was out cancelled it, yet it went: record that it
            // was delivered; anything else about a delivery no longer pending is moot.
            let state: String = row["state"]
            let delivered = if case .delivered = outcome { true } else { false }
            guard state == DeliveryInfo.State.pending.rawValue || (state == "cancelled" && delivered) else {
                return nil
            }
            let alert: String = row["alert"]
            let attempts = (row["attempts"] as Int) + 1
            let stamp = now.timeIntervalSince1970
            let dead: (status: Int?, reason: String, cause: String)
            switch outcome {
            case .delivered(let status):
                try db.prepared(
                    """
                    UPDATE deliveries SET state = 'delivered', attempts = ?, last_status = ?, last_error = NULL,
                    delivered = ?, claimed_until = NULL WHERE idempotency_key = ?
                    """
                ).execute(arguments: [attempts, status, stamp, key])
                return .delivered
            case .failed(let status, let reason, let retryAfter):
                let age = stamp - (row["created"] as Double)
                guard age >= retry.horizon else {
                    let delay = retry.delay(afterAttempt: attempts, retryAfter: retryAfter, random: random)
                    try db.prepared(
                        """
                        UPDATE deliveries SET attempts = ?, last_status = ?, last_error = ?, next_attempt = ?,
                        claimed_until = NULL WHERE idempotency_key = ?
                        """
                    ).execute(arguments: [attempts, status, reason, stamp + delay, key])
                    return .pending
                }
                dead = (status, AlertStoreRules.expiry(retry.horizon, attempts: attempts) + reason, "expired")
            case .rejected(let status, let reason):
                dead = (status, "refused: \(reason)", "refused")
            }
            try db.execute(
                sql: """
                    UPDATE deliveries SET state = 'dead', attempts = ?, last_status = ?, last_error = ?, dead_reason = ?,
                    claimed_until = NULL WHERE idempotency_key = ?
                    """,
                arguments: [attempts, dead.status, dead.reason, dead.cause, key])
            try db.execute(sql: Self.markDead, arguments: [alert])
            return .dead
        }
    }

    /// The open alerts that wait for an acknowledgement, through their own index (see migration v4).
    private static let waiting = "alerts INDEXED BY alerts_escalation_due"
    private static let escalationsDue =
        "SELECT id FROM \(waiting) WHERE escalate_at IS NOT NULL AND escalate_at <= ? AND state = 'open'"
    private static let anyEscalationDue = "SELECT EXISTS(\(escalationsDue))"
    private static let nextAttempt = """
        SELECT MIN(MAX(next_attempt, COALESCE(claimed_until, 0))) FROM deliveries
        WHERE state = 'pending' AND MAX(next_attempt, COALESCE(claimed_until, 0)) > ?
        """
    private static let nextEscalation = """
        SELECT MIN(escalate_at) FROM \(waiting) WHERE escalate_at IS NOT NULL AND escalate_at > ? AND state = 'open'
        """

    /// A dead delivery puts its alert on the dead-letter list, also one that escalated to its last contact
    /// meanwhile (escalation runs from queueing, so `unacknowledged` may mean nobody was told).
    private static let markDead =
        "UPDATE alerts SET state = 'dead', escalate_at = NULL WHERE id = ? AND state IN ('open', 'unacknowledged')"

    @discardableResult
    public func expire(at now: Date, retry: RetryPolicy) async throws -> Int {
        let cutoff = now.timeIntervalSince1970 - retry.horizon
        let any = try read { db in
            try Bool.fetchOne(
                try db.prepared("SELECT EXISTS(SELECT 1 FROM deliveries WHERE state = 'pending' AND created <= ?)"),
                arguments: [cutoff]) ?? false
        }
        guard any else { return 0 }
        return try await database.write { db in
            let rows = try Row.fetchAll(
                try db.prepared(
                    "SELECT alert, idempotency_key, attempts FROM deliveries WHERE state = 'pending' AND created <= ?"),
                arguments: [cutoff])
            for row in rows {
                let attempts: Int = row["attempts"]
                try db.execute(
                    sql: """
                        UPDATE deliveries SET state = 'dead', dead_reason = 'expired', claimed_until = NULL,
                        last_error = ? || COALESCE(last_error, 'none') WHERE idempotency_key = ?
                        """,
                    arguments: [
                        AlertStoreRules.expiry(retry.horizon, attempts: attempts), row["idempotency_key"] as String,
                    ])
                try db.execute(sql: Self.markDead, arguments: [row["alert"] as String])
            }
            return rows.count
        }
    }

    @discardableResult
    public func resumeAfterOutage(at now: Date, retry: RetryPolicy) async throws -> Int {
        let stamp = now.timeIntervalSince1970
        return try await database.write { db in
            try db.prepared("UPDATE deliveries SET next_attempt = ? WHERE state = 'pending' AND next_attempt > ?")
                .execute(arguments: [stamp, stamp])
            let condition = "state = 'dead' AND dead_reason = 'outage' AND created > ?"
            let alerts = try String.fetchAll(
                db, sql: "SELECT DISTINCT alert FROM deliveries WHERE \(condition)", arguments: [stamp - retry.horizon])
            try db.execute(
                sql: "UPDATE deliveries SET state = 'pending', dead_reason = NULL, next_attempt = ? WHERE \(condition)",
                arguments: [stamp, stamp - retry.horizon])
            let revived = db.changesCount
            for alert in alerts {
                try db.execute(
                    sql: """
                        UPDATE alerts SET state = 'open', escalate_at = ? + acknowledge_within
                        WHERE id = ? AND state = 'dead'
                        """,
                    arguments: [stamp, alert])
            }
            return revived
        }
    }

    @discardableResult
    public func escalate(at now: Date) async throws -> [AlertInfo] {
        // Most passes have nothing to escalate: a read says so without taking the write lock.
        let stamp = now.timeIntervalSince1970
        let due = try read { db in
            try Bool.fetchOne(try db.cachedStatement(sql: Self.anyEscalationDue), arguments: [stamp]) ?? false
        }
        guard due else { return [] }
        return try await database.write { db in
            let ids = try String.fetchAll(try db.cachedStatement(sql: Self.escalationsDue), arguments: [stamp])
            var escalated: [AlertInfo] = []
            for id in ids {
                guard var alert = try Self.alert(db, id: id) else { continue }
                if alert.level + 1 < alert.record.contacts.count {
                    alert.level += 1
                    try Self.insertDelivery(db, alert: id, level: alert.level, record: alert.record, now: now)
                    try db.prepared("UPDATE alerts SET level = ?, escalate_at = ? + acknowledge_within WHERE id = ?")
                        .execute(arguments: [alert.level, now.timeIntervalSince1970, id])
                    escalated.append(alert)
                } else {
                    try db.prepared("UPDATE alerts SET state = 'unacknowledged', escalate_at = NULL WHERE id = ?")
                        .execute(arguments: [id])
                }
            }
            return escalated
        }
    }

    // MARK: People's actions

    public func acknowledge(_ idOrPrefix: String, by who: String, at now: Date) async throws -> AlertInfo {
        try await database.write { db in
            let id = try Self.resolve(db, idOrPrefix)
            try db.execute(
                sql: """
                    UPDATE alerts SET state = 'acknowledged', escalate_at = NULL, acknowledged = ?, acknowledged_by = ?
                    WHERE id = ? AND state != 'acknowledged'
                    """,
                arguments: [now.timeIntervalSince1970, who, id])
            guard db.changesCount > 0 else { throw AlertStoreRules.acknowledgedAlready(id) }
            try db.prepared(
                "UPDATE deliveries SET state = 'cancelled' WHERE alert = ? AND state IN ('pending', 'dead')"
            ).execute(arguments: [id])
            return try Self.alert(db, id: id)!
        }
    }

    public func retry(_ idOrPrefix: String, at now: Date) async throws -> AlertInfo {
        try await database.write { db in
            let id = try Self.resolve(db, idOrPrefix)
            guard let alert = try Self.alert(db, id: id), alert.state == .dead else {
                throw AlertStoreRules.notDead(id)
            }
            try db.execute(
                sql: """
                    UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt = ?, created = ?,
                    dead_reason = NULL, claimed_until = NULL WHERE alert = ? AND state = 'dead'
                    """,
                arguments: [now.timeIntervalSince1970, now.timeIntervalSince1970, id])
            try db.prepared("UPDATE alerts SET state = 'open', escalate_at = ? + acknowledge_within WHERE id = ?")
                .execute(arguments: [now.timeIntervalSince1970, id])
            return try Self.alert(db, id: id)!
        }
    }

    // MARK: Reading

    public func alerts(_ filter: AlertFilter) async throws -> [AlertInfo] {
        var clauses: [String] = []
        var arguments: [(any DatabaseValueConvertible)?] = []
        if let state = filter.state {
            clauses.append("state = ?")
            arguments.append(state.rawValue)
        }
        if let customer = filter.customer {
            clauses.append("customer = ?")
            arguments.append(customer)
        }
        if let device = filter.device {
            clauses.append("device = ?")
            arguments.append(device)
        }
        if let from = filter.from {
            clauses.append("time >= ?")
            arguments.append(from)
        }
        if let to = filter.to {
            clauses.append("time <= ?")
            arguments.append(to)
        }
        arguments.append(filter.limit)
        let condition = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        let statementArguments = StatementArguments(arguments)
        return try read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM alerts \(condition) ORDER BY time DESC, rowid DESC LIMIT ?",
                arguments: statementArguments
            ).map(Self.alert)
        }
    }

    public func alert(_ idOrPrefix: String) async throws -> (AlertInfo, [DeliveryInfo]) {
        try read { db in
            let id = try Self.resolve(db, idOrPrefix)
            let deliveries = try Row.fetchAll(
                try db.prepared("SELECT * FROM deliveries WHERE alert = ? ORDER BY level"), arguments: [id]
            ).map(Self.delivery)
            return (try Self.alert(db, id: id)!, deliveries)
        }
    }

    public func counts() async throws -> [AlertInfo.State: Int] {
        try read { db in
            var out: [AlertInfo.State: Int] = [:]
            for row in try Row.fetchAll(try db.prepared("SELECT state, COUNT(*) AS n FROM alerts GROUP BY state")) {
                if let state = AlertInfo.State(rawValue: row["state"]) { out[state] = row["n"] }
            }
            return out
        }
    }

    // MARK: Retention

    public func forget(alerts ids: [String], at now: Date) async throws -> [String] {
        guard !ids.isEmpty else { return [] }
        return try await database.write { db in
            var forgotten: [String] = []
            for id in ids {
                try db.prepared("DELETE FROM alerts WHERE id = ?").execute(arguments: [id])
                guard db.changesCount > 0 else { continue }
                try db.prepared("DELETE FROM deliveries WHERE alert = ?").execute(arguments: [id])
                try db.prepared("INSERT OR IGNORE INTO forgotten_alerts(id, forgotten) VALUES (?, ?)")
                    .execute(arguments: [id, now.timeIntervalSince1970])
                forgotten.append(id)
            }
            return forgotten
        }
    }

    private static func resolve(_ db: Database, _ idOrPrefix: String) throws -> String {
        let prefix = try AlertStoreRules.prefix(idOrPrefix)
        let ids = try String.fetchAll(
            try db.prepared("SELECT id FROM alerts WHERE id >= ? AND id < ? LIMIT 2"),
            arguments: [prefix, prefix + "g"])
        return try AlertStoreRules.single(ids, prefix: prefix, asked: idOrPrefix)
    }

    private static func alert(_ db: Database, id: String) throws -> AlertInfo? {
        try Row.fetchOne(try db.prepared("SELECT * FROM alerts WHERE id = ?"), arguments: [id]).map(alert)
    }

    private static func alert(_ row: Row) throws -> AlertInfo {
        AlertInfo(
            id: row["id"], state: AlertInfo.State(rawValue: row["state"]) ?? .open, level: row["level"],
            customer: row["customer"], device: row["device"], time: row["time"], threat: row["threat"],
            record: try AlertStoreRules.decodeRecord(row["record"]),
            created: Date(timeIntervalSince1970: row["created"]),
            escalateAt: (row["escalate_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
            acknowledged: (row["acknowledged"] as Double?).map(Date.init(timeIntervalSince1970:)),
            acknowledgedBy: row["acknowledged_by"], trace: TraceHeaders(columnText: row["trace"]))
    }

    private static func delivery(_ row: Row) -> DeliveryInfo {
        DeliveryInfo(
            alert: row["alert"], level: row["level"], contact: row["contact"], idempotencyKey: row["idempotency_key"],
            state: DeliveryInfo.State(rawValue: row["state"]) ?? .pending, attempts: row["attempts"],
            nextAttempt: Date(timeIntervalSince1970: row["next_attempt"]), lastStatus: row["last_status"],
            lastError: row["last_error"],
            delivered: (row["delivered"] as Double?).map(Date.init(timeIntervalSince1970:)),
            created: Date(timeIntervalSince1970: row["created"]))
    }
}

extension SQLiteAlertStore: CommitsByOthers {
    public func commitsByOthers() async throws -> Int {
        try await SQLiteFiles.commitsByOthers(database)
    }
}
