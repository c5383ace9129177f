import Foundation
import Synchronization
import VigilAlerts
import VigilStages
import VigilStore

/// An alert store that forwards to another and keeps what the notifier asked of it: the deliveries `claimDue`
/// handed out and how often the cursor was read.
final class WatchedAlertStore: AlertStore {
    let inner: any AlertStore
    private let handedOut = Mutex<[String]>([])
    private let reads = Atomic<Int>(0)

    init(_ inner: any AlertStore) { self.inner = inner }

    /// The idempotency keys `claimDue` claimed, in order.
    var claimedByClaimDue: [String] { handedOut.withLock { $0 } }

    /// How many times `cursor(of:)` was called.
    var cursorReads: Int { reads.load(ordering: .relaxed) }

    func cursor(of repo: String) async throws -> String? {
        reads.add(1, ordering: .relaxed)
        return try await inner.cursor(of: repo)
    }

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
