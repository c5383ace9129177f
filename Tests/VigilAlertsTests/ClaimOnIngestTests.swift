import Foundation
import Synchronization
import Testing
import VigilAlertSink
import VigilAlerts
import VigilStages
import VigilStore

/// An alert store that forwards to another and keeps what `claimDue` handed out.
private final class ClaimWatchingStore: AlertStore {
    let inner: any AlertStore
    private let handedOut = Mutex<[String]>([])

    init(_ inner: any AlertStore) { self.inner = inner }

    /// The idempotency keys `claimDue` claimed, in order.
    var claimedByClaimDue: [String] { handedOut.withLock { $0 } }

    func cursor(of repo: String) async throws -> String? { try await inner.cursor(of: repo) }

    func ingest(
        _ threats: [(record: ThreatRecord, address: String)], traces: [String: TraceHeaders], repo: String,
        from previous: String?, to commit: String, now: Date, claiming claim: DeliveryClaim
    ) async throws -> Ingested {
        try await inner.ingest(
            threats, traces: traces, repo: repo, from: previous, to: commit, now: now, claiming: claim)
    }

    func claimDue(
        at now: Date, lease: TimeInterval, excluding: Set<String>, limit: Int
    ) async throws -> [(DeliveryInfo, AlertInfo)] {
        let claimed = try await inner.claimDue(at: now, lease: lease, excluding: excluding, limit: limit)
        handedOut.withLock { $0 += claimed.map(\.0.idempotencyKey) }
        return claimed
    }

    func nextDue(after now: Date) async throws -> Date? { try await inner.nextDue(after: now) }
    func pendingCount() async throws -> Int { try await inner.pendingCount() }

    func record(
        _ outcome: DeliveryOutcome, for key: String, at now: Date, retry: RetryPolicy,
        random: @escaping @Sendable (ClosedRange<Double>) -> Double
    ) async throws -> DeliveryInfo.State? {
        try await inner.record(outcome, for: key, at: now, retry: retry, random: random)
    }

    func expire(at now: Date, retry: RetryPolicy) async throws -> Int { try await inner.expire(at: now, retry: retry) }

    func resumeAfterOutage(at now: Date, retry: RetryPolicy) async throws -> Int {
        try await inner.resumeAfterOutage(at: now, retry: retry)
    }

    func escalate(at now: Date) async throws -> [AlertInfo] { try await inner.escalate(at: now) }

    func acknowledge(_ idOrPrefix: String, by who: String, at now: Date) async throws -> AlertInfo {
        try await inner.acknowledge(idOrPrefix, by: who, at: now)
    }

    func retry(_ idOrPrefix: String, at now: Date) async throws -> AlertInfo {
        try await inner.retry(idOrPrefix, at: now)
    }

    func alerts(_ filter: AlertFilter) async throws -> [AlertInfo] { try await inner.alerts(filter) }
    func alert(_ idOrPrefix: String) async throws -> (AlertInfo, [DeliveryInfo]) { try await inner.alert(idOrPrefix) }
    func counts() async throws -> [AlertInfo.State: Int] { try await inner.counts() }

    func forget(alerts ids: [String], at now: Date) async throws -> [String] {
        try await inner.forget(alerts: ids, at: now)
    }
}

@Suite("Notifier: new alerts claimed as they are ingested")
struct ClaimOnIngestTests {
    /// A new alert's first delivery is claimed in the transaction that adds it and sent from there, as many as
    /// the notifier's concurrency allows; the rest wait for the pass's `claimDue`, which hands out each once.
    @Test func newAlertsGoOutClaimedAtIngestUpToTheConcurrencyAndTheRestThroughClaimDue() async throws {
        let store = try makeStore()
        let records = try (0..<5).map { try threatRecord(device: "cam\($0)", time: 1_763_800_000 + Int64($0)) }
        try await commitThreats(records, to: store)
        try await withSink { sink, url in
            let database = ClaimWatchingStore(try SQLiteAlertStore())
            let transport = try transport(url)
            var configuration = fastConfiguration()
            configuration.concurrency = 3
            let notifier = try Notifier(
                store: store, database: database, transport: transport, configuration: configuration, logger: quiet)
            try await notifier.runUntilIdle()
            await transport.shutdown()

            let keys = records.map { AlertInfo.idempotencyKey(alert: AlertInfo.id(for: $0), level: 0) }
            #expect(sink.received.count == 5 && sink.stats.duplicates == 0)
            #expect(Set(sink.received.map(\.idempotencyKey)) == Set(keys))
            // Three went out from ingest; claimDue handed out the other two, and none of the three.
            let fromClaimDue = database.claimedByClaimDue
            #expect(fromClaimDue.count == 2 && Set(fromClaimDue).count == 2)
            #expect(Set(fromClaimDue).isSubset(of: Set(keys)))
            for alert in try await database.alerts() {
                #expect(try await database.alert(alert.id).1.map(\.state) == [.delivered])
            }
        }
    }
}
