import Foundation
import VigilStages
import VigilStore

/// The notifier's durable state: every alert, every delivery to a contact with its attempts, and how far the
/// threats repo has been read. Implementations: `SQLiteAlertStore` (the data folder, or in memory) and
/// `PostgresAlertStore` (shared by notifiers on many hosts). The CLI and the API change it too (`vigil alerts
/// ack` from another process is seen at the next escalation check).
///
/// Several notifiers may share one store: ingesting adds each alert once (by `AlertInfo.id`), a due delivery
/// is claimed by one notifier for `lease` seconds before it is sent (a notifier that dies mid-delivery leaves
/// it to the others once the claim runs out, sent again under the same idempotency key), and each escalation
/// happens once.
public protocol AlertStore: Sendable {
    /// The last commit of `repo` whose threats are ingested.
    func cursor(of repo: String) async throws -> String?

    /// Adds an alert for each record not alerted before (by `AlertInfo.id`), with its first delivery due now,
    /// and moves the cursor of `repo` from `previous` to `commit`: one transaction. When another notifier moved
    /// the cursor meanwhile it stays where that one put it. `traces` are the traces of the threats that have
    /// one, by address (`AlertInfo.trace`).
    ///
    /// Up to `claim.limit` of the first deliveries it adds are claimed for the caller in the same transaction
    /// (as `claimDue` would, for `claim.lease` seconds): a new alert goes out without a second transaction to
    /// claim it. Returns the alerts this call added and the deliveries it claimed, in the order given, and
    /// whether the cursor moved.
    func ingest(
        _ threats: [(record: ThreatRecord, address: String)], traces: [String: TraceHeaders], repo: String,
        from previous: String?, to commit: String, now: Date, claiming claim: DeliveryClaim
    ) async throws -> Ingested

    /// Claims up to `limit` pending deliveries due at `now` and not claimed by anyone, oldest due first,
    /// leaving out those in `excluding` (in flight here): nobody else gets them for `lease` seconds.
    func claimDue(
        at now: Date, lease: TimeInterval, excluding: Set<String>, limit: Int
    ) async throws -> [(DeliveryInfo, AlertInfo)]

    /// The earliest time after `now` something falls due: a pending delivery's next attempt (or the end of its
    /// claim) or an escalation.
    func nextDue(after now: Date) async throws -> Date?

    /// How many deliveries wait to go out (now or later).
    func pendingCount() async throws -> Int

    /// Records what an attempt gave, releases its claim, and returns the delivery's state after it (nil when it
    /// was no longer pending). A failure schedules the next try, unless the delivery is `retry.horizon` old (it
    /// expires); a refusal puts it on the dead-letter list. The wait for an acknowledgement runs from when the
    /// delivery was queued, delivered or not, so an outage delays escalation to nobody.
    @discardableResult
    func record(
        _ outcome: DeliveryOutcome, for key: String, at now: Date, retry: RetryPolicy,
        random: @escaping @Sendable (ClosedRange<Double>) -> Double
    ) async throws -> DeliveryInfo.State?

    /// Gives up the pending deliveries queued `retry.horizon` or more before `now` (those the circuit breaker
    /// held back never had a failed attempt to notice their age). Returns how many expired.
    @discardableResult
    func expire(at now: Date, retry: RetryPolicy) async throws -> Int

    /// The alert API answers again: every pending delivery is due now (not after its backoff), and deliveries
    /// that died of an outage (an attempt budget of an earlier Vigil) within the horizon are tried again.
    /// Returns how many dead deliveries were revived.
    @discardableResult
    func resumeAfterOutage(at now: Date, retry: RetryPolicy) async throws -> Int

    /// Tells the next contact about every open alert whose wait for an acknowledgement ended by `now`; an
    /// alert whose last contact's wait ended is `unacknowledged`. Returns the alerts escalated (each by one
    /// caller only).
    @discardableResult
    func escalate(at now: Date) async throws -> [AlertInfo]

    /// Someone saw it: nobody else is told, and deliveries not yet made are cancelled.
    func acknowledge(_ idOrPrefix: String, by who: String, at now: Date) async throws -> AlertInfo

    /// Takes a dead alert off the dead-letter list: its dead deliveries are tried again from now, afresh.
    func retry(_ idOrPrefix: String, at now: Date) async throws -> AlertInfo

    /// Alerts matching `filter`, newest image first.
    func alerts(_ filter: AlertFilter) async throws -> [AlertInfo]

    /// One alert by id or unique prefix (4+ characters), with its deliveries, first contact first.
    func alert(_ idOrPrefix: String) async throws -> (AlertInfo, [DeliveryInfo])

    /// Alerts per state.
    func counts() async throws -> [AlertInfo.State: Int]

    /// Forgets the alerts `ids` (past retention, or of an erased customer) with their deliveries, in whatever
    /// state: deliveries not yet made are never made. Each id stays behind alone, so the same threat judged
    /// again (history re-run) does not alert a second time. Returns the ids forgotten.
    func forget(alerts ids: [String], at now: Date) async throws -> [String]
}

extension AlertStore {
    /// `ingest` claiming nothing: the alerts it added.
    @discardableResult
    public func ingest(
        _ threats: [(record: ThreatRecord, address: String)], traces: [String: TraceHeaders] = [:], repo: String,
        from previous: String?, to commit: String, now: Date
    ) async throws -> [AlertInfo] {
        try await ingest(
            threats, traces: traces, repo: repo, from: previous, to: commit, now: now, claiming: .nothing
        ).added
    }

    @discardableResult
    public func record(
        _ outcome: DeliveryOutcome, for key: String, at now: Date, retry: RetryPolicy
    ) async throws -> DeliveryInfo.State? {
        try await record(outcome, for: key, at: now, retry: retry, random: { Double.random(in: $0) })
    }

    public func alerts() async throws -> [AlertInfo] {
        try await alerts(AlertFilter())
    }
}

extension DeliveryInfo {
    /// The delivery of `alert` to its contact at `level` as it is queued at `now`: pending, due, never tried.
    static func queued(for alert: AlertInfo, level: Int, at now: Date) -> DeliveryInfo {
        DeliveryInfo(
            alert: alert.id, level: level, contact: alert.record.contacts[level].name,
            idempotencyKey: AlertInfo.idempotencyKey(alert: alert.id, level: level), state: .pending, attempts: 0,
            nextAttempt: now, created: now)
    }
}

/// How many of the deliveries `AlertStore.ingest` adds it claims for its caller, and for how long.
public struct DeliveryClaim: Sendable, Hashable {
    public var lease: TimeInterval
    public var limit: Int

    public init(lease: TimeInterval, limit: Int) {
        self.lease = lease
        self.limit = max(0, limit)
    }

    public static let nothing = DeliveryClaim(lease: 0, limit: 0)
}

/// What `AlertStore.ingest` did: the alerts it added, the deliveries of theirs it claimed for its caller, and
/// whether it moved the cursor (false: another notifier had moved it from where the caller read it).
public struct Ingested: Sendable {
    public var added: [AlertInfo]
    public var claimed: [(delivery: DeliveryInfo, alert: AlertInfo)]
    public var movedCursor: Bool

    public init(
        added: [AlertInfo], claimed: [(delivery: DeliveryInfo, alert: AlertInfo)] = [], movedCursor: Bool = true
    ) {
        self.added = added
        self.claimed = claimed
        self.movedCursor = movedCursor
    }
}

/// Which alerts `AlertStore.alerts` lists.
public struct AlertFilter: Sendable {
    public var state: AlertInfo.State?
    public var customer: String?
    public var device: String?
    /// Image times (seconds since the epoch), inclusive.
    public var from: Int64?
    public var to: Int64?
    public var limit: Int

    /// An image time given as unix seconds or ISO 8601 (`2025-11-22T08:00:00Z`), or nil when it is neither.
    public static func seconds(from text: String) -> Int64? {
        FrameSelection.unixSeconds(text)
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

/// The rules both stores share, so that their answers and messages are the same.
enum AlertStoreRules {
    /// The id prefix a person typed, lowercased, or an error saying what an id looks like.
    static func prefix(_ idOrPrefix: String) throws -> String {
        let text = idOrPrefix.lowercased()
        guard text.count >= 4, text.allSatisfy(\.isHexDigit) else {
            throw AlertError(
                .alertNotFound, "'\(idOrPrefix)' is not an alert id (4 or more hex digits)", value: idOrPrefix)
        }
        return text
    }

    /// The one id among those a prefix matched (at most two are asked for).
    static func single(_ ids: [String], prefix: String, asked: String) throws -> String {
        guard ids.count < 2 else {
            throw AlertError(.alertNotFound, "'\(asked)' matches several alerts; give more digits", value: prefix)
        }
        guard let id = ids.first else { throw AlertError.notFound(asked) }
        return id
    }

    static func acknowledgedAlready(_ id: String) -> AlertError {
        AlertError(.badState, "alert \(id) is acknowledged already", value: id)
    }

    static func notDead(_ id: String) -> AlertError {
        AlertError(.badState, "alert \(id) is not on the dead-letter list; only dead alerts are retried", value: id)
    }

    /// What a delivery that ran out of time says before its last error.
    static func expiry(_ horizon: Double, attempts: Int) -> String {
        let text = expiryText(horizon)
        return text.before + "\(attempts)" + text.after
    }

    /// That text around the number of attempts, for a store that fills the number in itself.
    static func expiryText(_ horizon: Double) -> (before: String, after: String) {
        ("expired: not delivered within \(Int(horizon)) s (", " attempts); last error: ")
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    static func decodeRecord(_ text: String) throws -> ThreatRecord {
        try JSONDecoder().decode(ThreatRecord.self, from: Data(text.utf8))
    }
}
