import Foundation
import GRDB
import VigilStages
import VigilStore

/// The notifier's durable state (`<home>/alerts.sqlite`): every alert, every delivery to a contact with its
/// attempts, and how far the threats repo has been read. Shared by a running notifier and the CLI
/// (`vigil alerts ack` from another process is seen at the next escalation check).
///
/// `synchronous = NORMAL`: every transaction survives a killed process; a power cut may lose the last few,
/// which costs no alert: an ingest lost with its cursor is read again, a delivery lost is sent again under the
/// same idempotency key (the receiver drops the repeat). Ingesting a batch of threats and moving the cursor
/// past them is one transaction, so a crash can neither skip a threat nor alert twice.
public final class AlertDatabase: Sendable {
    private let database: any DatabaseWriter
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

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
    public static func open(home: URL) throws -> AlertDatabase {
        try AlertDatabase(path: home.appendingPathComponent(fileName).path)
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
        return migrator
    }

    /// Reads on the calling task: a WAL reader never waits for a writer (as in SQLiteJobStore).
    private func read<T>(_ body: (Database) throws -> T) throws -> T {
        try database.read(body)
    }

    // MARK: Ingest

    /// The last commit of `repo` whose threats are ingested.
    public func cursor(of repo: String) throws -> String? {
        try database.read { db in
            try String.fetchOne(db, sql: "SELECT commit_id FROM cursors WHERE repo = ?", arguments: [repo])
        }
    }

    /// Adds an alert for each record not alerted before (by `AlertInfo.id`), with its first delivery due now,
    /// and moves the cursor of `repo` to `commit`: one transaction. Returns the alerts added.
    @discardableResult
    public func ingest(
        _ threats: [(record: ThreatRecord, address: String)], repo: String, commit: String, now: Date
    ) async throws -> [AlertInfo] {
        let rows = try threats.map { threat in
            (AlertInfo.id(for: threat.record), threat, try Self.encoder.encode(threat.record))
        }
        return try await database.write { db in
            var added: [AlertInfo] = []
            for (id, threat, body) in rows where !threat.record.contacts.isEmpty {
                try db.execute(
                    sql: """
                        INSERT OR IGNORE INTO alerts(
                            id, state, level, customer, device, time, threat, record, acknowledge_within, created,
                            escalate_at)
                        VALUES (?, 'open', 0, ?, ?, ?, ?, ?, ?, ?, ?)
                        """,
                    arguments: [
                        id, threat.record.customer, threat.record.device, threat.record.time, threat.address,
                        String(decoding: body, as: UTF8.self), threat.record.acknowledgeWithin,
                        now.timeIntervalSince1970, now.timeIntervalSince1970 + threat.record.acknowledgeWithin,
                    ])
                guard db.changesCount > 0 else { continue }
                try Self.insertDelivery(db, alert: id, level: 0, record: threat.record, now: now)
                added.append(
                    AlertInfo(
                        id: id, state: .open, level: 0, customer: threat.record.customer, device: threat.record.device,
                        time: threat.record.time, threat: threat.address, record: threat.record, created: now,
                        escalateAt: now.addingTimeInterval(threat.record.acknowledgeWithin)))
            }
            try db.execute(
                sql: "INSERT OR REPLACE INTO cursors(repo, commit_id) VALUES (?, ?)", arguments: [repo, commit])
            return added
        }
    }

    private static func insertDelivery(
        _ db: Database, alert: String, level: Int, record: ThreatRecord, now: Date
    )
        throws
    {
        try db.execute(
            sql: """
                INSERT OR IGNORE INTO deliveries(
                    alert, level, contact, idempotency_key, state, attempts, next_attempt, created)
                VALUES (?, ?, ?, ?, 'pending', 0, ?, ?)
                """,
            arguments: [
                alert, level, record.contacts[level].name, AlertInfo.idempotencyKey(alert: alert, level: level),
                now.timeIntervalSince1970, now.timeIntervalSince1970,
            ])
    }

    // MARK: Delivering

    /// Pending deliveries due at `now`, oldest due first, leaving out those in `excluding` (in flight).
    public func dueDeliveries(
        at now: Date, excluding: Set<String>, limit: Int
    ) throws -> [(
        DeliveryInfo, AlertInfo
    )] {
        try database.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT d.* FROM deliveries d WHERE d.state = 'pending' AND d.next_attempt <= ?
                    ORDER BY d.next_attempt LIMIT ?
                    """,
                arguments: [now.timeIntervalSince1970, limit + excluding.count])
            var out: [(DeliveryInfo, AlertInfo)] = []
            for row in rows {
                let delivery = Self.delivery(row)
                guard !excluding.contains(delivery.idempotencyKey), out.count < limit,
                    let alert = try Self.alert(db, id: delivery.alert)
                else { continue }
                out.append((delivery, alert))
            }
            return out
        }
    }

    /// The earliest time after `now` something falls due: a pending delivery's next attempt or an escalation.
    public func nextDue(after now: Date) throws -> Date? {
        try database.read { db in
            let stamp = now.timeIntervalSince1970
            let times = [
                try Double.fetchOne(
                    db, sql: "SELECT MIN(next_attempt) FROM deliveries WHERE state = 'pending' AND next_attempt > ?",
                    arguments: [stamp]),
                try Double.fetchOne(
                    db,
                    sql: """
                        SELECT MIN(escalate_at) FROM alerts
                        WHERE escalate_at IS NOT NULL AND escalate_at > ? AND state = 'open'
                        """,
                    arguments: [stamp]),
            ].compactMap { $0 }
            return times.min().map { Date(timeIntervalSince1970: $0) }
        }
    }

    /// How many deliveries wait to go out (now or later).
    public func pendingCount() throws -> Int {
        try database.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM deliveries WHERE state = 'pending'") ?? 0
        }
    }

    /// Records what an attempt gave, and returns the delivery's state after it (nil when it was no longer
    /// pending). A failure schedules the next try, unless the delivery is `retry.horizon` old (it expires); a
    /// refusal puts it on the dead-letter list. The wait for an acknowledgement runs from when the delivery was
    /// queued, delivered or not, so an outage delays escalation to nobody.
    @discardableResult
    public func record(
        _ outcome: DeliveryOutcome, for key: String, at now: Date, retry: RetryPolicy,
        random: @Sendable (ClosedRange<Double>) -> Double = { Double.random(in: $0) }
    ) async throws -> DeliveryInfo.State? {
        try await database.write { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: "SELECT alert, level, state, attempts, created FROM deliveries WHERE idempotency_key = ?",
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
                try db.execute(
                    sql: """
                        UPDATE deliveries SET state = 'delivered', attempts = ?, last_status = ?, last_error = NULL,
                        delivered = ? WHERE idempotency_key = ?
                        """,
                    arguments: [attempts, status, stamp, key])
                return .delivered
            case .failed(let status, let reason, let retryAfter):
                let age = stamp - (row["created"] as Double)
                guard age >= retry.horizon else {
                    let delay = retry.delay(afterAttempt: attempts, retryAfter: retryAfter, random: random)
                    try db.execute(
                        sql: """
                            UPDATE deliveries SET attempts = ?, last_status = ?, last_error = ?, next_attempt = ?
                            WHERE idempotency_key = ?
                            """,
                        arguments: [attempts, status, reason, stamp + delay, key])
                    return .pending
                }
                dead = (status, Self.expiry(retry.horizon, attempts: attempts) + reason, "expired")
            case .rejected(let status, let reason):
                dead = (status, "refused: \(reason)", "refused")
            }
            try db.execute(
                sql: """
                    UPDATE deliveries SET state = 'dead', attempts = ?, last_status = ?, last_error = ?, dead_reason = ?
                    WHERE idempotency_key = ?
                    """,
                arguments: [attempts, dead.status, dead.reason, dead.cause, key])
            try db.execute(
                sql: Self.markDead,
                arguments: [alert])
            return .dead
        }
    }

    /// A dead delivery puts its alert on the dead-letter list, also one that escalated to its last contact
    /// meanwhile (escalation runs from queueing, so `unacknowledged` may mean nobody was told).
    private static let markDead =
        "UPDATE alerts SET state = 'dead', escalate_at = NULL WHERE id = ? AND state IN ('open', 'unacknowledged')"

    private static func expiry(_ horizon: Double, attempts: Int) -> String {
        "expired: not delivered within \(Int(horizon)) s (\(attempts) attempts); last error: "
    }

    /// Gives up the pending deliveries queued `retry.horizon` or more before `now` (those the circuit breaker
    /// held back never had a failed attempt to notice their age). Returns how many expired.
    @discardableResult
    public func expire(at now: Date, retry: RetryPolicy) async throws -> Int {
        let cutoff = now.timeIntervalSince1970 - retry.horizon
        let any = try read { db in
            try Bool.fetchOne(
                db, sql: "SELECT EXISTS(SELECT 1 FROM deliveries WHERE state = 'pending' AND created <= ?)",
                arguments: [cutoff]) ?? false
        }
        guard any else { return 0 }
        return try await database.write { db in
            let rows = try Row.fetchAll(
                db,
                sql: "SELECT alert, idempotency_key, attempts FROM deliveries WHERE state = 'pending' AND created <= ?",
                arguments: [cutoff])
            for row in rows {
                let attempts: Int = row["attempts"]
                try db.execute(
                    sql: """
                        UPDATE deliveries SET state = 'dead', dead_reason = 'expired',
                        last_error = ? || COALESCE(last_error, 'none') WHERE idempotency_key = ?
                        """,
                    arguments: [Self.expiry(retry.horizon, attempts: attempts), row["idempotency_key"] as String])
                try db.execute(
                    sql: Self.markDead,
                    arguments: [row["alert"] as String])
            }
            return rows.count
        }
    }

    /// The alert API answers again: every pending delivery is due now (not after its backoff), and deliveries
    /// that died of an outage (an attempt budget of an earlier Vigil) within the horizon are tried again.
    /// Returns how many dead deliveries were revived.
    @discardableResult
    public func resumeAfterOutage(at now: Date, retry: RetryPolicy) async throws -> Int {
        let stamp = now.timeIntervalSince1970
        return try await database.write { db in
            try db.execute(
                sql: "UPDATE deliveries SET next_attempt = ? WHERE state = 'pending' AND next_attempt > ?",
                arguments: [stamp, stamp])
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

    /// Tells the next contact about every open alert whose wait for an acknowledgement ended by `now`; an
    /// alert whose last contact's wait ended is `unacknowledged`. Returns the alerts escalated.
    @discardableResult
    public func escalate(at now: Date) async throws -> [AlertInfo] {
        let sql = "SELECT id FROM alerts WHERE escalate_at IS NOT NULL AND escalate_at <= ? AND state = 'open'"
        // Most passes have nothing to escalate: a read says so without taking the write lock.
        let due = try read { db in
            try Bool.fetchOne(db, sql: "SELECT EXISTS(\(sql))", arguments: [now.timeIntervalSince1970]) ?? false
        }
        guard due else { return [] }
        return try await database.write { db in
            let ids = try String.fetchAll(db, sql: sql, arguments: [now.timeIntervalSince1970])
            var escalated: [AlertInfo] = []
            for id in ids {
                guard var alert = try Self.alert(db, id: id) else { continue }
                if alert.level + 1 < alert.record.contacts.count {
                    alert.level += 1
                    try Self.insertDelivery(db, alert: id, level: alert.level, record: alert.record, now: now)
                    try db.execute(
                        sql: "UPDATE alerts SET level = ?, escalate_at = ? + acknowledge_within WHERE id = ?",
                        arguments: [alert.level, now.timeIntervalSince1970, id])
                    escalated.append(alert)
                } else {
                    try db.execute(
                        sql: "UPDATE alerts SET state = 'unacknowledged', escalate_at = NULL WHERE id = ?",
                        arguments: [id])
                }
            }
            return escalated
        }
    }

    // MARK: People's actions

    /// Someone saw it: nobody else is told, and deliveries not yet made are cancelled.
    public func acknowledge(_ idOrPrefix: String, by who: String, at now: Date) async throws -> AlertInfo {
        try await database.write { db in
            let id = try Self.resolve(db, idOrPrefix)
            try db.execute(
                sql: """
                    UPDATE alerts SET state = 'acknowledged', escalate_at = NULL, acknowledged = ?, acknowledged_by = ?
                    WHERE id = ? AND state != 'acknowledged'
                    """,
                arguments: [now.timeIntervalSince1970, who, id])
            guard db.changesCount > 0 else {
                throw AlertError(.badState, "alert \(id) is acknowledged already", value: id)
            }
            try db.execute(
                sql: "UPDATE deliveries SET state = 'cancelled' WHERE alert = ? AND state IN ('pending', 'dead')",
                arguments: [id])
            return try Self.alert(db, id: id)!
        }
    }

    /// Takes a dead alert off the dead-letter list: its dead deliveries are tried again from now, afresh.
    public func retry(_ idOrPrefix: String, at now: Date) async throws -> AlertInfo {
        try await database.write { db in
            let id = try Self.resolve(db, idOrPrefix)
            guard let alert = try Self.alert(db, id: id), alert.state == .dead else {
                throw AlertError(
                    .badState, "alert \(id) is not on the dead-letter list; only dead alerts are retried", value: id)
            }
            try db.execute(
                sql: """
                    UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt = ?, created = ?,
                    dead_reason = NULL WHERE alert = ? AND state = 'dead'
                    """,
                arguments: [now.timeIntervalSince1970, now.timeIntervalSince1970, id])
            try db.execute(
                sql: "UPDATE alerts SET state = 'open', escalate_at = ? + acknowledge_within WHERE id = ?",
                arguments: [now.timeIntervalSince1970, id])
            return try Self.alert(db, id: id)!
        }
    }

    // MARK: Reading

    public struct Filter: Sendable {
        public var state: AlertInfo.State?
        public var customer: String?
        public var device: String?
        /// Image times (seconds since the epoch), inclusive.
        public var from: Int64?
        public var to: Int64?
        public var limit: Int

        /// An image time given as unix seconds or ISO 8601 (`2025-11-22T08:00:00Z`), or nil when it is neither.
        public static func seconds(from text: String) -> Int64? {
            if let seconds = Int64(text) { return seconds }
            return (try? Date(text, strategy: .iso8601)).map { Int64($0.timeIntervalSince1970) }
        }

        public init(
            state: AlertInfo.State? = nil, customer: String? = nil, device: String? = nil, from: Int64? = nil,
            to: Int64? = nil, limit: Int = 100
        ) {
            self.state = state
            self.customer = customer
            self.device = device
            self.from = from
            self.to = to
            self.limit = limit
        }
    }

    /// Alerts matching `filter`, newest image first.
    public func alerts(_ filter: Filter = Filter()) throws -> [AlertInfo] {
        var clauses: [String] = []
        var arguments: [any DatabaseValueConvertible] = []
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
        return try database.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM alerts \(condition) ORDER BY time DESC, rowid DESC LIMIT ?",
                arguments: StatementArguments(arguments)
            ).map(Self.alert)
        }
    }

    /// One alert by id or unique prefix (4+ characters), with its deliveries, first contact first.
    public func alert(_ idOrPrefix: String) throws -> (AlertInfo, [DeliveryInfo]) {
        try database.read { db in
            let id = try Self.resolve(db, idOrPrefix)
            let deliveries = try Row.fetchAll(
                db, sql: "SELECT * FROM deliveries WHERE alert = ? ORDER BY level", arguments: [id]
            ).map(Self.delivery)
            return (try Self.alert(db, id: id)!, deliveries)
        }
    }

    /// Alerts per state.
    public func counts() throws -> [AlertInfo.State: Int] {
        try database.read { db in
            var out: [AlertInfo.State: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT state, COUNT(*) AS n FROM alerts GROUP BY state") {
                if let state = AlertInfo.State(rawValue: row["state"]) { out[state] = row["n"] }
            }
            return out
        }
    }

    private static func resolve(_ db: Database, _ idOrPrefix: String) throws -> String {
        let text = idOrPrefix.lowercased()
        guard text.count >= 4, text.allSatisfy(\.isHexDigit) else {
            throw AlertError(
                .alertNotFound, "'\(idOrPrefix)' is not an alert id (4 or more hex digits)", value: idOrPrefix)
        }
        let ids = try String.fetchAll(
            db, sql: "SELECT id FROM alerts WHERE id >= ? AND id < ? LIMIT 2", arguments: [text, text + "g"])
        guard ids.count < 2 else {
            throw AlertError(.alertNotFound, "'\(idOrPrefix)' matches several alerts; give more digits", value: text)
        }
        guard let id = ids.first else { throw AlertError.notFound(idOrPrefix) }
        return id
    }

    private static func alert(_ db: Database, id: String) throws -> AlertInfo? {
        try Row.fetchOne(db, sql: "SELECT * FROM alerts WHERE id = ?", arguments: [id]).map(alert)
    }

    private static func alert(_ row: Row) throws -> AlertInfo {
        let text: String = row["record"]
        return AlertInfo(
            id: row["id"], state: AlertInfo.State(rawValue: row["state"]) ?? .open, level: row["level"],
            customer: row["customer"], device: row["device"], time: row["time"], threat: row["threat"],
            record: try JSONDecoder().decode(ThreatRecord.self, from: Data(text.utf8)),
            created: Date(timeIntervalSince1970: row["created"]),
            escalateAt: (row["escalate_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
            acknowledged: (row["acknowledged"] as Double?).map(Date.init(timeIntervalSince1970:)),
            acknowledgedBy: row["acknowledged_by"])
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
