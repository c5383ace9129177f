import Foundation
import Logging
import ServerTestSupport
import Testing
import VigilAlertSink
import VigilAlerts
import VigilStages
import VigilStore

/// One suite, run against every `AlertStore` implementation: a new implementation joins `AlertStoreKind`.
enum AlertStoreKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqliteFile
    case sqliteMemory
    /// `PostgresAlertStore` on a real PostgreSQL (a fresh database per test), when Debian's server is there or
    /// on CI.
    case postgres

    var testDescription: String { rawValue }

    static let testable: [AlertStoreKind] = PostgresServer.canRun ? allCases : [.sqliteFile, .sqliteMemory]
    /// The kinds where a second store object (another process's view) can open the same database.
    static let shareable = testable.filter { $0 != .sqliteMemory }

    /// Runs `body` with a fresh, empty store and, where the kind allows, a second one on the same database.
    func withStores(_ body: @Sendable (any AlertStore, (any AlertStore)?) async throws -> Void) async throws {
        switch self {
        case .sqliteFile:
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("alerts-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: folder) }
            let path = folder.appendingPathComponent("alerts.sqlite").path
            try await body(try SQLiteAlertStore(path: path), try SQLiteAlertStore(path: path))
        case .sqliteMemory:
            try await body(try SQLiteAlertStore(), nil)
        case .postgres:
            let server = try await PostgresServer.shared()
            try await server.withDatabase(schemas: [PostgresAlertStore.schema], logger: quiet) { database in
                try await PostgresServer.withClient(
                    database.location, environment: server.environment, logger: quiet
                ) { other in
                    try await body(PostgresAlertStore(database: database), PostgresAlertStore(database: other))
                }
            }
        }
    }

    func withStore(_ body: @Sendable (any AlertStore) async throws -> Void) async throws {
        try await withStores { store, _ in try await body(store) }
    }
}

private let start = Date(timeIntervalSince1970: 1_763_800_000)

/// `count` threat records for distinct devices, each with `contacts`.
private func threats(
    _ count: Int, from first: Int = 0, contacts: [String] = ["Ana Lee", "Bo Chen"], acknowledgeWithin: Double = 600
) throws -> [(record: ThreatRecord, address: String)] {
    try (first..<first + count).map { index in
        let record = try threatRecord(
            device: "cam\(index)", time: 1_763_800_000 + Int64(index), contacts: contacts,
            acknowledgeWithin: acknowledgeWithin)
        return (record, "threats@c0:/cam\(index)/\(record.image.name).json")
    }
}

private let noJitter: @Sendable (ClosedRange<Double>) -> Double = { $0.upperBound }

@Suite("AlertStore conformance")
struct AlertStoreConformanceTests {
    @Test(arguments: AlertStoreKind.testable)
    func anAlertKeepsTheTraceOfItsThreatForItsDeliveries(kind: AlertStoreKind) async throws {
        try await kind.withStore { store in
            let batch = try threats(2)
            let trace = TraceHeaders(["traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"])
            let added = try await store.ingest(
                batch, traces: [batch[0].address: trace], repo: "threats", from: nil, to: "c1", now: start)
            #expect(added.map(\.trace) == [trace, nil])
            #expect(try await store.alert(added[0].id).0.trace == trace)
            #expect(try await store.alert(added[1].id).0.trace == nil)
            let claimed = try await store.claimDue(at: start, lease: 60, excluding: [], limit: 10)
            #expect(Set(claimed.map(\.1.trace)) == [trace, nil])
        }
    }

    @Test(arguments: AlertStoreKind.testable)
    func ingestAddsEachAlertOnceAndMovesTheCursorOnlyFromWhereItWas(kind: AlertStoreKind) async throws {
        try await kind.withStore { store in
            #expect(try await store.cursor(of: "threats") == nil)
            var batch = try threats(2)
            // A record without contacts tells nobody: no alert.
            batch.append(try threats(1, from: 9, contacts: [])[0])
            let added = try await store.ingest(batch, repo: "threats", from: nil, to: "c1", now: start)
            #expect(added.map(\.device) == ["cam0", "cam1"])
            #expect(added.allSatisfy { $0.state == .open && $0.level == 0 && $0.escalateAt == start + 600 })
            #expect(try await store.cursor(of: "threats") == "c1")

            // The same records again (history judged anew) and one new: only the new one is added.
            let again = try await store.ingest(try threats(3), repo: "threats", from: "c1", to: "c2", now: start)
            #expect(again.map(\.device) == ["cam2"])
            #expect(try await store.cursor(of: "threats") == "c2")
            // A notifier that read the cursor before another moved it leaves the cursor where that one put it,
            // and is told so.
            let stale = try await store.ingest(
                try threats(4), traces: [:], repo: "threats", from: "c1", to: "c3", now: start, claiming: .nothing)
            #expect(stale.added.map(\.device) == ["cam3"] && !stale.movedCursor)
            #expect(try await store.cursor(of: "threats") == "c2")
            let moved = try await store.ingest(
                [], traces: [:], repo: "threats", from: "c2", to: "c3", now: start, claiming: .nothing)
            #expect(moved.added.isEmpty && moved.movedCursor)
            #expect(try await store.cursor(of: "threats") == "c3")
            #expect(try await store.cursor(of: "other") == nil)
            #expect(try await store.alerts().count == 4)
            #expect(try await store.pendingCount() == 4)
            #expect(try await store.counts() == [.open: 4])
        }
    }

    @Test(arguments: AlertStoreKind.testable)
    func ingestClaimsTheFirstNewDeliveriesForItsCallerInTheSameTransaction(kind: AlertStoreKind) async throws {
        try await kind.withStores { store, other in
            try await store.ingest(try threats(1), repo: "threats", from: nil, to: "c1", now: start)
            let result = try await store.ingest(
                try threats(4), traces: [:], repo: "threats", from: "c1", to: "c2", now: start,
                claiming: DeliveryClaim(lease: 30, limit: 2))
            // Only what this call added is claimed: the first two new ones, in the order given.
            #expect(result.added.map(\.device) == ["cam1", "cam2", "cam3"])
            #expect(result.claimed.map(\.alert.device) == ["cam1", "cam2"])
            for (delivery, alert) in result.claimed {
                #expect(delivery.alert == alert.id && delivery.level == 0 && delivery.contact == "Ana Lee")
                #expect(delivery.idempotencyKey == AlertInfo.idempotencyKey(alert: alert.id, level: 0))
                #expect(delivery.state == .pending && delivery.attempts == 0 && delivery.nextAttempt == start)
            }
            // The claimed ones are nobody else's (another notifier on the same database included) until the lease
            // ends; the unclaimed new one and the older one are due for anyone.
            let others = try await (other ?? store).claimDue(at: start, lease: 60, excluding: [], limit: 10)
            #expect(Set(others.map(\.1.device)) == ["cam0", "cam3"])
            #expect(try await store.claimDue(at: start + 29, lease: 30, excluding: [], limit: 10).isEmpty)
            let afterLease = try await store.claimDue(at: start + 31, lease: 30, excluding: [], limit: 10)
            #expect(Set(afterLease.map(\.0.idempotencyKey)) == Set(result.claimed.map(\.delivery.idempotencyKey)))
            // Recorded like any claimed delivery.
            #expect(
                try await store.record(
                    .delivered(status: 201), for: result.claimed[0].delivery.idempotencyKey, at: start + 32,
                    retry: RetryPolicy()) == .delivered)
            // Threats ingested again add nothing and claim nothing.
            let again = try await store.ingest(
                try threats(4), traces: [:], repo: "threats", from: "c2", to: "c3", now: start,
                claiming: DeliveryClaim(lease: 30, limit: 10))
            #expect(again.added.isEmpty && again.claimed.isEmpty)
        }
    }

    @Test(arguments: AlertStoreKind.testable)
    func aClaimedDeliveryIsNobodyElsesUntilItsLeaseEnds(kind: AlertStoreKind) async throws {
        try await kind.withStore { store in
            try await store.ingest(try threats(5), repo: "threats", from: nil, to: "c1", now: start)
            let first = try await store.claimDue(at: start, lease: 30, excluding: [], limit: 3)
            #expect(first.count == 3)
            #expect(first.allSatisfy { delivery, alert in delivery.alert == alert.id && delivery.level == 0 })
            let rest = try await store.claimDue(at: start, lease: 30, excluding: [], limit: 10)
            #expect(rest.count == 2)
            #expect(Set((first + rest).map(\.0.idempotencyKey)).count == 5)
            #expect(try await store.claimDue(at: start + 29, lease: 30, excluding: [], limit: 10).isEmpty)
            // What falls due next is the end of the claims.
            #expect(try await store.nextDue(after: start) == start + 30)
            // One is recorded; the others' claims run out (their notifier died): due again for anyone, unless
            // excluded as still in flight here.
            let key = first[0].0.idempotencyKey
            #expect(
                try await store.record(.delivered(status: 201), for: key, at: start + 1, retry: RetryPolicy())
                    == .delivered)
            let excluded = rest[0].0.idempotencyKey
            let again = try await store.claimDue(at: start + 30, lease: 30, excluding: [excluded], limit: 10)
            #expect(
                Set(again.map(\.0.idempotencyKey))
                    == Set((first.dropFirst() + rest.dropFirst()).map(\.0.idempotencyKey)))
            #expect(try await store.pendingCount() == 4)
        }
    }

    @Test(arguments: AlertStoreKind.shareable)
    func notifiersInTwoProcessesClaimEachDeliveryOnce(kind: AlertStoreKind) async throws {
        try await kind.withStores { first, second in
            let stores = [first, try #require(second)]
            try await first.ingest(try threats(40), repo: "threats", from: nil, to: "c1", now: start)
            // Eight claimers, half on each store object, take three at a time until nothing is left.
            let claimed = try await withThrowingTaskGroup(of: [String].self) { group in
                for index in 0..<8 {
                    let store = stores[index % 2]
                    group.addTask {
                        var mine: [String] = []
                        while true {
                            let batch = try await store.claimDue(at: start, lease: 30, excluding: [], limit: 3)
                            if batch.isEmpty { return mine }
                            mine += batch.map(\.0.idempotencyKey)
                        }
                    }
                }
                return try await group.reduce(into: [String]()) { $0 += $1 }
            }
            #expect(claimed.count == 40)
            #expect(Set(claimed).count == 40)
        }
    }

    @Test(arguments: AlertStoreKind.testable)
    func attemptsAreRecordedRetriedRefusedAndRevived(kind: AlertStoreKind) async throws {
        try await kind.withStore { store in
            let retry = RetryPolicy(horizon: 3_600, baseDelay: 1, maxDelay: 10)
            let added = try await store.ingest(try threats(3), repo: "threats", from: nil, to: "c1", now: start)
            let keys = added.map { AlertInfo.idempotencyKey(alert: $0.id, level: 0) }
            _ = try await store.claimDue(at: start, lease: 30, excluding: [], limit: 10)

            // A failure: pending, tried again after the backoff (the claim is released).
            let failed = DeliveryOutcome.failed(status: 503, reason: "HTTP 503", retryAfter: nil)
            #expect(
                try await store.record(failed, for: keys[0], at: start + 1, retry: retry, random: noJitter) == .pending)
            let (_, deliveries) = try await store.alert(added[0].id)
            #expect(deliveries.map(\.attempts) == [1] && deliveries[0].lastStatus == 503)
            #expect(deliveries[0].lastError == "HTTP 503")
            #expect(deliveries[0].nextAttempt == start + 2)
            #expect(
                try await store.claimDue(at: start + 2, lease: 30, excluding: [], limit: 10).map(\.0.idempotencyKey)
                    == [keys[0]])

            // The API answers again: a delivery waiting on its backoff is due at once.
            #expect(
                try await store.record(failed, for: keys[0], at: start + 3, retry: retry, random: noJitter) == .pending)
            #expect(try await store.resumeAfterOutage(at: start + 3.5, retry: retry) == 0)
            #expect(try await store.alert(added[0].id).1[0].nextAttempt == start + 3.5)

            // A refusal: dead, and its alert on the dead-letter list; a retry takes it off, afresh.
            let refused = DeliveryOutcome.rejected(status: 422, reason: "HTTP 422: bad contact")
            #expect(try await store.record(refused, for: keys[1], at: start + 1, retry: retry) == .dead)
            let (dead, deadDeliveries) = try await store.alert(added[1].id)
            #expect(dead.state == .dead && dead.escalateAt == nil)
            #expect(deadDeliveries[0].lastError == "refused: HTTP 422: bad contact")
            #expect(try await store.counts() == [.open: 2, .dead: 1])
            #expect(try await store.alerts(AlertFilter(state: .dead)).map(\.id) == [added[1].id])
            let retried = try await store.retry(String(added[1].id.prefix(6)), at: start + 100)
            #expect(retried.state == .open && retried.escalateAt == start + 700)
            let revived = try await store.alert(added[1].id).1[0]
            #expect(revived.state == .pending && revived.attempts == 0 && revived.nextAttempt == start + 100)
            await #expect(throws: AlertError.self) { try await store.retry(added[1].id, at: start + 101) }

            // A recorded outcome for a delivery no longer pending changes nothing.
            #expect(
                try await store.record(.delivered(status: 201), for: keys[2], at: start + 2, retry: retry) == .delivered
            )
            #expect(try await store.record(failed, for: keys[2], at: start + 3, retry: retry) == nil)
            #expect(try await store.record(failed, for: "nope-0", at: start + 3, retry: retry) == nil)
        }
    }

    @Test(arguments: AlertStoreKind.testable)
    func deliveriesOlderThanTheHorizonExpire(kind: AlertStoreKind) async throws {
        try await kind.withStore { store in
            let retry = RetryPolicy(horizon: 60, baseDelay: 1, maxDelay: 10)
            let added = try await store.ingest(try threats(2), repo: "threats", from: nil, to: "c1", now: start)
            let key = AlertInfo.idempotencyKey(alert: added[0].id, level: 0)
            // A failure past the horizon: dead, with why.
            let failed = DeliveryOutcome.failed(status: nil, reason: "connection refused", retryAfter: nil)
            #expect(try await store.record(failed, for: key, at: start + 61, retry: retry) == .dead)
            let (alert, deliveries) = try await store.alert(added[0].id)
            #expect(alert.state == .dead)
            #expect(
                deliveries[0].lastError
                    == "expired: not delivered within 60 s (1 attempts); last error: connection refused")
            // One never tried (the breaker held it back) expires by age.
            #expect(try await store.expire(at: start + 59, retry: retry) == 0)
            #expect(try await store.expire(at: start + 60, retry: retry) == 1)
            let (other, otherDeliveries) = try await store.alert(added[1].id)
            #expect(other.state == .dead && otherDeliveries[0].state == .dead)
            #expect(otherDeliveries[0].lastError == "expired: not delivered within 60 s (0 attempts); last error: none")
            #expect(try await store.pendingCount() == 0)
        }
    }

    @Test(arguments: AlertStoreKind.testable)
    func escalationTellsTheNextContactAndAcknowledgingStopsIt(kind: AlertStoreKind) async throws {
        try await kind.withStore { store in
            let added = try await store.ingest(
                try threats(2, contacts: ["Ana Lee", "Bo Chen"]), repo: "threats", from: nil, to: "c1", now: start)
            #expect(try await store.escalate(at: start + 599).isEmpty)
            #expect(try await store.nextDue(after: start) == start + 600)
            let escalated = try await store.escalate(at: start + 600)
            #expect(escalated.map(\.level) == [1, 1])
            #expect(try await store.alert(added[0].id).1.map(\.contact) == ["Ana Lee", "Bo Chen"])
            #expect(try await store.alert(added[0].id).0.escalateAt == start + 1_200)

            // Ana acknowledges the first: nothing more for it; its pending deliveries are cancelled.
            let acknowledged = try await store.acknowledge(added[0].id, by: "Ana Lee", at: start + 700)
            #expect(acknowledged.state == .acknowledged && acknowledged.acknowledgedBy == "Ana Lee")
            #expect(try await store.alert(added[0].id).1.map(\.state) == [.cancelled, .cancelled])
            await #expect(throws: AlertError.self) { try await store.acknowledge(added[0].id, by: "Bo", at: start) }
            // The other's last contact does not answer either: unacknowledged.
            #expect(try await store.escalate(at: start + 1_200).isEmpty)
            #expect(try await store.alert(added[1].id).0.state == .unacknowledged)
            #expect(try await store.counts() == [.acknowledged: 1, .unacknowledged: 1])
        }
    }

    @Test(arguments: AlertStoreKind.testable)
    func aBacklogOfEscalationsAllGoInOnePass(kind: AlertStoreKind) async throws {
        // More than one batch's worth, as after a long outage of the notifier.
        try await kind.withStore { store in
            try await store.ingest(
                try threats(450, contacts: ["Ana Lee", "Bo Chen"]), repo: "threats", from: nil, to: "c1", now: start)
            let escalated = try await store.escalate(at: start + 600)
            #expect(escalated.count == 450 && Set(escalated.map(\.id)).count == 450)
            #expect(try await store.alerts(AlertFilter(limit: 1_000)).allSatisfy { $0.level == 1 })
            #expect(try await store.escalate(at: start + 600).isEmpty)
        }
    }

    @Test(arguments: AlertStoreKind.shareable)
    func twoNotifiersEscalatingAtOnceTellEachContactOnce(kind: AlertStoreKind) async throws {
        try await kind.withStores { first, second in
            let stores = [first, try #require(second)]
            try await first.ingest(
                try threats(30, contacts: ["Ana Lee", "Bo Chen", "Cy Diaz"]), repo: "threats", from: nil, to: "c1",
                now: start)
            let escalated = try await withThrowingTaskGroup(of: [AlertInfo].self) { group in
                for index in 0..<6 {
                    let store = stores[index % 2]
                    group.addTask { try await store.escalate(at: start + 600) }
                }
                return try await group.reduce(into: [AlertInfo]()) { $0 += $1 }
            }
            #expect(escalated.count == 30)
            #expect(Set(escalated.map(\.id)).count == 30)
            #expect(try await first.alerts(AlertFilter(limit: 100)).allSatisfy { $0.level == 1 })
        }
    }

    @Test(arguments: AlertStoreKind.testable)
    func alertsAreFoundByFilterAndByPrefix(kind: AlertStoreKind) async throws {
        try await kind.withStore { store in
            var batch = try threats(3)
            batch.append(
                (try threatRecord(device: "gate", time: 1_763_900_000, customer: "globex"), "threats@c0:/gate.json"))
            try await store.ingest(batch, repo: "threats", from: nil, to: "c1", now: start)
            // Newest image first.
            #expect(try await store.alerts().map(\.device) == ["gate", "cam2", "cam1", "cam0"])
            #expect(try await store.alerts(AlertFilter(customer: "globex")).map(\.device) == ["gate"])
            #expect(try await store.alerts(AlertFilter(device: "cam1")).map(\.device) == ["cam1"])
            #expect(
                try await store.alerts(AlertFilter(from: 1_763_800_001, to: 1_763_800_002)).map(\.device)
                    == ["cam2", "cam1"])
            #expect(try await store.alerts(AlertFilter(limit: 2)).count == 2)
            #expect(try await store.alerts(AlertFilter(state: .acknowledged)).isEmpty)

            let gate = try #require(try await store.alerts(AlertFilter(customer: "globex")).first)
            #expect(try await store.alert(gate.id.uppercased()).0 == gate)
            #expect(try await store.alert(gate.id).0.record == batch[3].record)
            await #expect(throws: AlertError.notFound("0000")) {
                _ = try await store.alert(gate.id.hasPrefix("0000") ? "ffff" : "0000")
            }
            do {
                _ = try await store.alert("xyz")
                Issue.record("a malformed id was accepted")
            } catch let error as AlertError {
                #expect(error.code == .alertNotFound && error.message.contains("4 or more hex digits"))
            }
        }
    }

    @Test(arguments: AlertStoreKind.testable)
    func alertsPastRetentionAreForgottenForGood(kind: AlertStoreKind) async throws {
        try await kind.withStore { store in
            let batch = try threats(3)
            let added = try await store.ingest(batch, repo: "threats", from: nil, to: "c1", now: start)
            let ids = added.map(\.id)
            _ = try await store.acknowledge(ids[0], by: "Ana Lee", at: start + 60)
            // Acknowledged or still open, each goes with its deliveries; an unknown id is no error.
            let forgotten = try await store.forget(
                alerts: [ids[0], ids[2], "00000000000000000000000000000000"], at: start)
            #expect(forgotten == [ids[0], ids[2]])
            #expect(try await store.alerts().map(\.id) == [ids[1]])
            await #expect(throws: AlertError.self) { _ = try await store.alert(ids[0]) }
            #expect(try await store.pendingCount() == 1)
            #expect(
                try await store.claimDue(at: start + 3_600, lease: 60, excluding: [], limit: 10).map(\.1.id) == [ids[1]]
            )
            #expect(try await store.forget(alerts: [], at: start).isEmpty)
            // The same threats judged again: the forgotten alert is not added (nor told) a second time.
            let again = try await store.ingest(batch, repo: "threats", from: "c1", to: "c2", now: start + 120)
            #expect(again.isEmpty)
            #expect(try await store.alerts().count == 1)
            #expect(try await store.forget(alerts: [ids[0]], at: start).isEmpty)
        }
    }
}

/// Notifiers in two processes over one shared store, delivering to one real sink.
@Suite("Notifiers sharing a store")
struct SharedNotifierTests {
    @Test(arguments: AlertStoreKind.shareable)
    func twoNotifiersDeliverEachAlertOnce(kind: AlertStoreKind) async throws {
        let store = try makeStore()
        let records = try (0..<24).map { try threatRecord(device: "cam\($0)", time: 1_763_800_000 + Int64($0)) }
        try await commitThreats(records, to: store)
        try await kind.withStores { first, second in
            try await withSink { sink, url in
                let transports = [try transport(url), try transport(url)]
                let notifiers = try [first, try #require(second)].enumerated().map { index, alerts in
                    try Notifier(
                        store: store, database: alerts, transport: transports[index],
                        configuration: fastConfiguration(), logger: quiet)
                }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for notifier in notifiers { group.addTask { try await notifier.runUntilIdle() } }
                    try await group.waitForAll()
                }
                for transport in transports { await transport.shutdown() }
                #expect(sink.received.count == 24)
                #expect(sink.stats.duplicates == 0)
                #expect(try await first.counts() == [.open: 24])
                #expect(try await first.pendingCount() == 0)
            }
        }
    }
}
