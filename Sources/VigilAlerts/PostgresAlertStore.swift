import Foundation
import PostgresNIO
import VigilStages
import VigilStore

/// `AlertStore` on the shared PostgreSQL database, for notifiers and API processes on many hosts. Rows that
/// two notifiers may want at once are taken with `FOR UPDATE SKIP LOCKED` (claims, escalations), so each goes
/// to one of them; alerts are added with `ON CONFLICT DO NOTHING`, so each is added once. A person's change
/// (`ack`, `retry`) notifies the change feed, so every notifier hears of it at once.
public final class PostgresAlertStore: AlertStore {
    private let database: VigilStore.PostgresDatabase

    /// The store on `database`, whose `schema` must have been applied (the composition root does it).
    public init(database: VigilStore.PostgresDatabase) {
        self.database = database
    }

    public static let schema = PostgresSchema(
        component: "alerts",
        migrations: [
            [
                """
                CREATE TABLE alerts(
                    id text COLLATE "C" PRIMARY KEY, seq bigint GENERATED ALWAYS AS IDENTITY, state text NOT NULL,
                    level integer NOT NULL, customer text NOT NULL, device text NOT NULL, time bigint NOT NULL,
                    threat text NOT NULL, record text NOT NULL, acknowledge_within double precision NOT NULL,
                    created double precision NOT NULL, escalate_at double precision, acknowledged double precision,
                    acknowledged_by text)
                """,
                // Escalations due are looked for on every notifier pass: among the open alerts only.
                """
                CREATE INDEX alerts_escalation_due ON alerts(escalate_at)
                WHERE state = 'open' AND escalate_at IS NOT NULL
                """,
                "CREATE INDEX alerts_by_device_time ON alerts(device, time)",
                "CREATE INDEX alerts_by_state ON alerts(state)",
                "CREATE INDEX alerts_by_time ON alerts(time DESC, seq DESC)",
                """
                CREATE TABLE deliveries(
                    alert text COLLATE "C" NOT NULL, level integer NOT NULL, contact text NOT NULL,
                    idempotency_key text COLLATE "C" NOT NULL UNIQUE, state text NOT NULL, attempts integer NOT NULL,
                    next_attempt double precision NOT NULL, last_status integer, last_error text,
                    delivered double precision, created double precision NOT NULL, dead_reason text,
                    claimed_until double precision, PRIMARY KEY(alert, level))
                """,
                "CREATE INDEX deliveries_due ON deliveries(next_attempt) WHERE state = 'pending'",
                "CREATE INDEX deliveries_dead ON deliveries(created) WHERE state = 'dead'",
                "CREATE INDEX deliveries_pending_age ON deliveries(created) WHERE state = 'pending'",
                "CREATE TABLE alert_cursors(repo text COLLATE \"C\" PRIMARY KEY, commit_id text NOT NULL)",
            ],
            ["ALTER TABLE alerts ADD COLUMN trace text"],
            // The ids of alerts forgotten past retention: ingest never adds them again.
            ["CREATE TABLE forgotten_alerts(id text COLLATE \"C\" PRIMARY KEY, forgotten double precision NOT NULL)"],
            // A customer's alerts, newest first, and its alerts past retention: one index range each.
            ["CREATE INDEX alerts_by_customer_time ON alerts(customer, time DESC, seq DESC)"],
        ])

    // MARK: Ingest

    public func cursor(of repo: String) async throws -> String? {
        try await database.rows(
            "reading the alert cursor of '\(repo)'", "SELECT commit_id FROM alert_cursors WHERE repo = \(repo)"
        ).first.map { try $0.decode(String.self) }
    }

    @discardableResult
    public func ingest(
        _ threats: [(record: ThreatRecord, address: String)], traces: [String: TraceHeaders], repo: String,
        from previous: String?, to commit: String, now: Date, claiming claim: DeliveryClaim
    ) async throws -> Ingested {
        let rows = try threats.filter { !$0.record.contacts.isEmpty }.map { threat in
            (
                AlertInfo.id(for: threat.record), threat,
                String(decoding: try AlertStoreRules.encoder.encode(threat.record), as: UTF8.self)
            )
        }
        let stamp = now.timeIntervalSince1970
        let records = rows.map(\.1.record)
        return try await database.withTransaction("ingesting \(rows.count) threats of \(repo)@\(commit)") {
            connection in
            // One statement for the whole batch, whatever its size. A notifier ingesting the same threats at
            // once waits for these rows, then adds none of them.
            let inserted = try await connection.rows(
                """
                WITH given AS (
                    SELECT * FROM unnest(
                        \(rows.map(\.0))::text[], \(records.map(\.customer))::text[], \(records.map(\.device))::text[],
                        \(records.map(\.time))::bigint[], \(rows.map(\.1.address))::text[], \(rows.map(\.2))::text[],
                        \(records.map(\.acknowledgeWithin))::float8[], \(records.map { $0.contacts[0].name })::text[],
                        \(rows.map { AlertInfo.idempotencyKey(alert: $0.0, level: 0) })::text[],
                        \(rows.map { traces[$0.1.address]?.columnText ?? "" })::text[]) WITH ORDINALITY
                    AS g(id, customer, device, time, threat, record, acknowledge_within, contact, idempotency_key,
                         trace, ord)
                ), added AS (
                    INSERT INTO alerts(
                        id, state, level, customer, device, time, threat, record, acknowledge_within, created,
                        escalate_at, trace)
                    SELECT id, 'open', 0, customer, device, time, threat, record, acknowledge_within, \(stamp),
                           \(stamp) + acknowledge_within, NULLIF(trace, '')
                    FROM given WHERE NOT EXISTS (SELECT 1 FROM forgotten_alerts f WHERE f.id = given.id)
                    ON CONFLICT (id) DO NOTHING RETURNING id
                ), queued AS (
                    -- The first deliveries added, up to the claim's limit, are claimed for this caller.
                    INSERT INTO deliveries(
                        alert, level, contact, idempotency_key, state, attempts, next_attempt, created, claimed_until)
                    SELECT given.id, 0, given.contact, given.idempotency_key, 'pending', 0, \(stamp), \(stamp),
                        CASE WHEN row_number() OVER (ORDER BY given.ord) <= \(claim.limit)
                            THEN \(stamp + claim.lease) END
                    FROM given JOIN added ON added.id = given.id
                    ON CONFLICT DO NOTHING
                    RETURNING alert, claimed_until IS NOT NULL AS claimed
                )
                SELECT added.id, COALESCE(queued.claimed, false) FROM added LEFT JOIN queued ON queued.alert = added.id
                """
            ).map { try $0.decode((String, Bool).self) }
            let added = Set(inserted.map(\.0))
            let claimed = Set(inserted.filter(\.1).map(\.0))
            // A row comes back when the cursor was added or moved, none when another notifier had moved it.
            let movedTo = try await connection.rows(
                """
                INSERT INTO alert_cursors(repo, commit_id) VALUES (\(repo), \(commit))
                ON CONFLICT (repo) DO UPDATE SET commit_id = excluded.commit_id
                WHERE alert_cursors.commit_id IS NOT DISTINCT FROM \(previous)
                RETURNING commit_id
                """)
            let moved = !movedTo.isEmpty
            var seen: Set<String> = []
            let alerts = rows.compactMap { id, threat, _ -> AlertInfo? in
                guard added.contains(id), seen.insert(id).inserted else { return nil }
                let record = threat.record
                return AlertInfo(
                    id: id, state: .open, level: 0, customer: record.customer, device: record.device,
                    time: record.time, threat: threat.address, record: record, created: now,
                    escalateAt: now.addingTimeInterval(record.acknowledgeWithin), trace: traces[threat.address])
            }
            return Ingested(
                added: alerts,
                claimed: alerts.filter { claimed.contains($0.id) }.map { (.queued(for: $0, level: 0, at: now), $0) },
                movedCursor: moved)
        }
    }

    // MARK: Delivering

    public func claimDue(
        at now: Date, lease: TimeInterval, excluding: Set<String>, limit: Int
    ) async throws -> [(DeliveryInfo, AlertInfo)] {
        let stamp = now.timeIntervalSince1970
        let excluded = Array(excluding)
        // Rows another notifier is claiming are skipped, not waited for: it gets them, this one the next.
        let claimed = try await database.rows(
            "claiming due deliveries",
            """
            WITH due AS (
                SELECT idempotency_key FROM deliveries
                WHERE state = 'pending' AND next_attempt <= \(stamp)
                    AND (claimed_until IS NULL OR claimed_until <= \(stamp))
                    AND NOT (idempotency_key = ANY(\(excluded)))
                ORDER BY next_attempt LIMIT \(limit) FOR UPDATE SKIP LOCKED)
            UPDATE deliveries d SET claimed_until = \(stamp + lease) FROM due
            WHERE d.idempotency_key = due.idempotency_key
            RETURNING \(unescaped: Self.deliveryColumns("d"))
            """
        ).map(Self.delivery)
        guard !claimed.isEmpty else { return [] }
        let alerts = try await database.rows(
            "reading the alerts of claimed deliveries",
            "SELECT \(unescaped: Self.alertColumns) FROM alerts WHERE id = ANY(\(claimed.map(\.alert)))"
        ).map(Self.alert)
        let byID = Dictionary(alerts.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        return claimed.sorted { $0.nextAttempt < $1.nextAttempt }.compactMap { delivery in
            byID[delivery.alert].map { (delivery, $0) }
        }
    }

    public func nextDue(after now: Date) async throws -> Date? {
        let stamp = now.timeIntervalSince1970
        return try await database.rows(
            "finding the next due time",
            """
            SELECT LEAST(
                (SELECT MIN(GREATEST(next_attempt, COALESCE(claimed_until, 0))) FROM deliveries
                 WHERE state = 'pending' AND GREATEST(next_attempt, COALESCE(claimed_until, 0)) > \(stamp)),
                (SELECT MIN(escalate_at) FROM alerts
                 WHERE escalate_at IS NOT NULL AND escalate_at > \(stamp) AND state = 'open'))
            """
        ).first.flatMap { try $0.decode(Double?.self) }.map(Date.init(timeIntervalSince1970:))
    }

    public func pendingCount() async throws -> Int {
        try await database.rows(
            "counting pending deliveries", "SELECT COUNT(*) FROM deliveries WHERE state = 'pending'"
        ).first.map { try $0.decode(Int.self) } ?? 0
    }

    @discardableResult
    public func record(
        _ outcome: DeliveryOutcome, for key: String, at now: Date, retry: RetryPolicy,
        random: @escaping @Sendable (ClosedRange<Double>) -> Double
    ) async throws -> DeliveryInfo.State? {
        let stamp = now.timeIntervalSince1970
        return try await database.withTransaction("recording delivery \(key)") { connection in
            guard
                let row = try await connection.rows(
                    "SELECT alert, state, attempts, created FROM deliveries WHERE idempotency_key = \(key) FOR UPDATE"
                ).first
            else { return nil }
            let (alert, state, previous, created) = try row.decode((String, String, Int, Double).self)
            // An acknowledgement that came while the request was out cancelled it, yet it went: record that it
            // was delivered; anything else about a delivery no longer pending is moot.
            let delivered = if case .delivered = outcome { true } else { false }
            guard state == DeliveryInfo.State.pending.rawValue || (state == "cancelled" && delivered) else {
                return nil
            }
            let attempts = previous + 1
            let dead: (status: Int?, reason: String, cause: String)
            switch outcome {
            case .delivered(let status):
                try await connection.rows(
                    """
                    UPDATE deliveries SET state = 'delivered', attempts = \(attempts), last_status = \(status),
                        last_error = NULL, delivered = \(stamp), claimed_until = NULL
                    WHERE idempotency_key = \(key)
                    """)
                return .delivered
            case .failed(let status, let reason, let retryAfter):
                guard stamp - created >= retry.horizon else {
                    let delay = retry.delay(afterAttempt: attempts, retryAfter: retryAfter, random: random)
                    try await connection.rows(
                        """
                        UPDATE deliveries SET attempts = \(attempts), last_status = \(status), last_error = \(reason),
                            next_attempt = \(stamp + delay), claimed_until = NULL
                        WHERE idempotency_key = \(key)
                        """)
                    return .pending
                }
                dead = (status, AlertStoreRules.expiry(retry.horizon, attempts: attempts) + reason, "expired")
            case .rejected(let status, let reason):
                dead = (status, "refused: \(reason)", "refused")
            }
            try await connection.rows(
                """
                UPDATE deliveries SET state = 'dead', attempts = \(attempts), last_status = \(dead.status),
                    last_error = \(dead.reason), dead_reason = \(dead.cause), claimed_until = NULL
                WHERE idempotency_key = \(key)
                """)
            try await connection.rows(Self.markDead(alert))
            return .dead
        }
    }

    /// A dead delivery puts its alert on the dead-letter list, also one that escalated to its last contact
    /// meanwhile (escalation runs from queueing, so `unacknowledged` may mean nobody was told).
    private static func markDead(_ alert: String) -> PostgresQuery {
        """
        UPDATE alerts SET state = 'dead', escalate_at = NULL
        WHERE id = \(alert) AND state IN ('open', 'unacknowledged')
        """
    }

    @discardableResult
    public func expire(at now: Date, retry: RetryPolicy) async throws -> Int {
        let cutoff = now.timeIntervalSince1970 - retry.horizon
        let text = AlertStoreRules.expiryText(retry.horizon)
        return try await database.rows(
            "expiring old deliveries",
            """
            WITH expired AS (
                UPDATE deliveries SET state = 'dead', dead_reason = 'expired', claimed_until = NULL,
                    last_error = \(text.before) || attempts || \(text.after) || COALESCE(last_error, 'none')
                WHERE state = 'pending' AND created <= \(cutoff) RETURNING alert),
            marked AS (
                UPDATE alerts SET state = 'dead', escalate_at = NULL
                WHERE id IN (SELECT alert FROM expired) AND state IN ('open', 'unacknowledged') RETURNING 1)
            SELECT COUNT(*) FROM expired
            """
        ).first.map { try $0.decode(Int.self) } ?? 0
    }

    @discardableResult
    public func resumeAfterOutage(at now: Date, retry: RetryPolicy) async throws -> Int {
        let stamp = now.timeIntervalSince1970
        let since = stamp - retry.horizon
        return try await database.rows(
            "resuming deliveries after an outage",
            """
            WITH hurried AS (
                UPDATE deliveries SET next_attempt = \(stamp)
                WHERE state = 'pending' AND next_attempt > \(stamp) RETURNING 1),
            revived AS (
                UPDATE deliveries SET state = 'pending', dead_reason = NULL, next_attempt = \(stamp)
                WHERE state = 'dead' AND dead_reason = 'outage' AND created > \(since) RETURNING alert),
            reopened AS (
                UPDATE alerts SET state = 'open', escalate_at = \(stamp) + acknowledge_within
                WHERE id IN (SELECT alert FROM revived) AND state = 'dead' RETURNING 1)
            SELECT COUNT(*) FROM revived
            """
        ).first.map { try $0.decode(Int.self) } ?? 0
    }

    @discardableResult
    public func escalate(at now: Date) async throws -> [AlertInfo] {
        let stamp = now.timeIntervalSince1970
        // Most passes have nothing to escalate: a read says so without a transaction.
        let due =
            try await database.rows(
                "looking for escalations",
                """
                SELECT EXISTS(SELECT 1 FROM alerts WHERE escalate_at IS NOT NULL AND escalate_at <= \(stamp)
                    AND state = 'open')
                """
            ).first.map { try $0.decode(Bool.self) } ?? false
        guard due else { return [] }
        // In batches, each its own transaction: after an outage thousands may be due, and one transaction of
        // two statements per alert would outlast the query deadline.
        var escalated: [AlertInfo] = []
        while true {
            let (batch, taken) = try await escalateBatch(at: stamp)
            escalated += batch
            if taken < Self.escalationBatch { return escalated }
        }
    }

    /// Most alerts one escalation transaction takes.
    static let escalationBatch = 100

    /// Escalates (or gives up on) up to `escalationBatch` due alerts; returns those escalated and how many
    /// were taken.
    private func escalateBatch(at stamp: Double) async throws -> ([AlertInfo], Int) {
        try await database.withTransaction("escalating alerts") { connection in
            // Another notifier escalating at once skips the rows this one holds: each alert escalates once.
            let alerts = try await connection.rows(
                """
                SELECT \(unescaped: Self.alertColumns) FROM alerts
                WHERE escalate_at IS NOT NULL AND escalate_at <= \(stamp) AND state = 'open'
                ORDER BY escalate_at LIMIT \(Self.escalationBatch)
                FOR UPDATE SKIP LOCKED
                """
            ).map(Self.alert)
            // A few statements for the whole batch, whatever its size.
            let escalated = alerts.filter { $0.level + 1 < $0.record.contacts.count }.map { alert in
                var next = alert
                next.level += 1
                return next
            }
            let exhausted = alerts.filter { $0.level + 1 >= $0.record.contacts.count }.map(\.id)
            if !escalated.isEmpty {
                try await connection.rows(
                    """
                    INSERT INTO deliveries(alert, level, contact, idempotency_key, state, attempts, next_attempt,
                                           created)
                    SELECT given.alert, given.level, given.contact, given.key, 'pending', 0, \(stamp), \(stamp)
                    FROM unnest(\(escalated.map(\.id))::text[], \(escalated.map(\.level))::bigint[],
                                \(escalated.map { $0.record.contacts[$0.level].name })::text[],
                                \(escalated.map { AlertInfo.idempotencyKey(alert: $0.id, level: $0.level) })::text[])
                         AS given(alert, level, contact, key)
                    ON CONFLICT DO NOTHING
                    """)
                try await connection.rows(
                    """
                    UPDATE alerts SET level = level + 1, escalate_at = \(stamp) + acknowledge_within
                    WHERE id = ANY(\(escalated.map(\.id)))
                    """)
            }
            if !exhausted.isEmpty {
                try await connection.rows(
                    "UPDATE alerts SET state = 'unacknowledged', escalate_at = NULL WHERE id = ANY(\(exhausted))")
            }
            return (escalated, alerts.count)
        }
    }

    // MARK: People's actions

    public func acknowledge(_ idOrPrefix: String, by who: String, at now: Date) async throws -> AlertInfo {
        try await database.withTransaction("acknowledging alert \(idOrPrefix)") { connection in
            let id = try await Self.resolve(connection, idOrPrefix)
            let changed = try await connection.rows(
                """
                UPDATE alerts SET state = 'acknowledged', escalate_at = NULL, acknowledged = \(now.timeIntervalSince1970),
                    acknowledged_by = \(who)
                WHERE id = \(id) AND state != 'acknowledged' RETURNING 1
                """)
            guard !changed.isEmpty else { throw AlertStoreRules.acknowledgedAlready(id) }
            try await connection.rows(
                """
                UPDATE deliveries SET state = 'cancelled', claimed_until = NULL
                WHERE alert = \(id) AND state IN ('pending', 'dead')
                """)
            return try await Self.changed(connection, id)
        }
    }

    public func retry(_ idOrPrefix: String, at now: Date) async throws -> AlertInfo {
        let stamp = now.timeIntervalSince1970
        return try await database.withTransaction("retrying alert \(idOrPrefix)") { connection in
            let id = try await Self.resolve(connection, idOrPrefix)
            let dead = try await connection.rows(
                "SELECT 1 FROM alerts WHERE id = \(id) AND state = 'dead' FOR UPDATE")
            guard !dead.isEmpty else { throw AlertStoreRules.notDead(id) }
            try await connection.rows(
                """
                UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt = \(stamp), created = \(stamp),
                    dead_reason = NULL, claimed_until = NULL
                WHERE alert = \(id) AND state = 'dead'
                """)
            try await connection.rows(
                "UPDATE alerts SET state = 'open', escalate_at = \(stamp) + acknowledge_within WHERE id = \(id)")
            return try await Self.changed(connection, id)
        }
    }

    /// The alert as a person's change left it; the change feed tells every notifier (a retried alert's
    /// deliveries are due now).
    private static func changed(_ connection: PostgresConnection, _ id: String) async throws -> AlertInfo {
        let rows = try await connection.rows(
            """
            SELECT \(unescaped: alertColumns), pg_notify(\(PostgresChangeFeed.channel), \(Change.alerts.payload))
            FROM alerts WHERE id = \(id)
            """)
        guard let row = rows.first else { throw AlertError.notFound(id) }
        return try alert(row)
    }

    // MARK: Reading

    public func alerts(_ filter: AlertFilter) async throws -> [AlertInfo] {
        try await database.rows(
            "listing alerts",
            """
            SELECT \(unescaped: Self.alertColumns) FROM alerts
            WHERE (\(filter.state?.rawValue)::text IS NULL OR state = \(filter.state?.rawValue))
                AND (\(filter.customer)::text IS NULL OR customer = \(filter.customer))
                AND (\(filter.device)::text IS NULL OR device = \(filter.device))
                AND time >= \(filter.from ?? Int64.min) AND time <= \(filter.to ?? Int64.max)
            ORDER BY time DESC, seq DESC LIMIT \(filter.limit)
            """
        ).map(Self.alert)
    }

    public func alert(_ idOrPrefix: String) async throws -> (AlertInfo, [DeliveryInfo]) {
        try await database.withConnection("reading alert \(idOrPrefix)") { connection in
            let id = try await Self.resolve(connection, idOrPrefix)
            let alert = try await connection.rows(
                "SELECT \(unescaped: Self.alertColumns) FROM alerts WHERE id = \(id)"
            ).first.map(Self.alert)
            guard let alert else { throw AlertError.notFound(idOrPrefix) }
            let deliveries = try await connection.rows(
                "SELECT \(unescaped: Self.deliveryColumns("deliveries")) FROM deliveries WHERE alert = \(id) ORDER BY level"
            ).map(Self.delivery)
            return (alert, deliveries)
        }
    }

    public func counts() async throws -> [AlertInfo.State: Int] {
        var out: [AlertInfo.State: Int] = [:]
        for row in try await database.rows("counting alerts", "SELECT state, COUNT(*) FROM alerts GROUP BY state") {
            let (state, count) = try row.decode((String, Int).self)
            if let state = AlertInfo.State(rawValue: state) { out[state] = count }
        }
        return out
    }

    // MARK: Retention

    public func forget(alerts ids: [String], at now: Date) async throws -> [String] {
        guard !ids.isEmpty else { return [] }
        return try await database.withTransaction("forgetting \(ids.count) alerts past retention") { connection in
            let forgotten = try await connection.rows(
                """
                WITH gone AS (
                    DELETE FROM alerts WHERE id = ANY(\(ids)::text[]) RETURNING id
                ), deliveries_gone AS (
                    DELETE FROM deliveries WHERE alert IN (SELECT id FROM gone)
                ), remembered AS (
                    INSERT INTO forgotten_alerts(id, forgotten) SELECT id, \(now.timeIntervalSince1970) FROM gone
                    ON CONFLICT DO NOTHING
                )
                SELECT id FROM gone
                """
            ).map { try $0.decode(String.self) }
            return ids.filter(Set(forgotten).contains)
        }
    }

    private static func resolve(_ connection: PostgresConnection, _ idOrPrefix: String) async throws -> String {
        let prefix = try AlertStoreRules.prefix(idOrPrefix)
        let ids = try await connection.rows(
            "SELECT id FROM alerts WHERE id >= \(prefix) AND id < \(prefix + "g") ORDER BY id LIMIT 2"
        ).map { try $0.decode(String.self) }
        return try AlertStoreRules.single(ids, prefix: prefix, asked: idOrPrefix)
    }

    private static let alertColumns = """
        id, state, level, customer, device, time, threat, record, created, escalate_at, acknowledged, acknowledged_by,
        trace
        """

    private static func alert(_ row: PostgresRow) throws -> AlertInfo {
        let cells = row.makeRandomAccess()
        return AlertInfo(
            id: try cells[0].decode(String.self),
            state: AlertInfo.State(rawValue: try cells[1].decode(String.self)) ?? .open,
            level: try cells[2].decode(Int.self), customer: try cells[3].decode(String.self),
            device: try cells[4].decode(String.self), time: try cells[5].decode(Int64.self),
            threat: try cells[6].decode(String.self),
            record: try AlertStoreRules.decodeRecord(try cells[7].decode(String.self)),
            created: Date(timeIntervalSince1970: try cells[8].decode(Double.self)),
            escalateAt: try cells[9].decode(Double?.self).map(Date.init(timeIntervalSince1970:)),
            acknowledged: try cells[10].decode(Double?.self).map(Date.init(timeIntervalSince1970:)),
            acknowledgedBy: try cells[11].decode(String?.self),
            trace: TraceHeaders(columnText: try cells[12].decode(String?.self)))
    }

    private static func deliveryColumns(_ table: String) -> String {
        [
            "alert", "level", "contact", "idempotency_key", "state", "attempts", "next_attempt", "last_status",
            "last_error", "delivered", "created",
        ].map { "\(table).\($0)" }.joined(separator: ", ")
    }

    private static func delivery(_ row: PostgresRow) throws -> DeliveryInfo {
        let cells = row.makeRandomAccess()
        return DeliveryInfo(
            alert: try cells[0].decode(String.self), level: try cells[1].decode(Int.self),
            contact: try cells[2].decode(String.self), idempotencyKey: try cells[3].decode(String.self),
            state: DeliveryInfo.State(rawValue: try cells[4].decode(String.self)) ?? .pending,
            attempts: try cells[5].decode(Int.self),
            nextAttempt: Date(timeIntervalSince1970: try cells[6].decode(Double.self)),
            lastStatus: try cells[7].decode(Int?.self), lastError: try cells[8].decode(String?.self),
            delivered: try cells[9].decode(Double?.self).map(Date.init(timeIntervalSince1970:)),
            created: Date(timeIntervalSince1970: try cells[10].decode(Double.self)))
    }
}
