import Foundation
import Logging
import VigilAccess
import VigilAlerts
import VigilStages
import VigilStore

/// Applies each customer's retention (the rules' `retention: {images, alerts}`): frames older than the
/// customer's image retention (by the time in their names) are erased with everything made from them, as
/// `vigil erase` does, in one erasure; alerts about images older than the alert retention are forgotten.
/// A frame belongs to the customer that owned its camera at the frame's time. Frames and alerts under an
/// active legal hold stay. What `vigil retention run` runs once and `vigil serve` runs on a schedule.
public struct RetentionRunner: Sendable {
    let store: VersionedStore
    let alerts: any AlertStore
    let access: any AccessStore
    let rules: RuleHistory
    let holds: LegalHoldBook
    let companions: ErasureCompanions
    let logger: Logger
    /// The most alerts forgotten per customer in one run; the rest wait for the next.
    static let alertBatch = 100_000

    public init(
        store: VersionedStore, alerts: any AlertStore, access: any AccessStore, configuration: ServerConfiguration,
        logger: Logger
    ) {
        self.store = store
        self.alerts = alerts
        self.access = access
        rules = RuleHistory(store: store, repo: configuration.rulesRepo)
        holds = LegalHoldBook(store: store, repo: configuration.holdsRepo)
        companions = ErasureCompanions(
            store: store, alerts: alerts, verdictsRepo: configuration.verdictsRepo,
            datasetsRepo: configuration.datasetsRepo)
        self.logger = logger
    }

    /// One customer's share of a run.
    public struct CustomerOutcome: Sendable, Codable, Equatable {
        public var customer: String
        /// Frames taken before this time (unix seconds) are past retention; nil: images are kept.
        public var imagesBefore: Int64?
        /// Alerts about images taken before this time are past retention; nil: alerts are kept.
        public var alertsBefore: Int64?
        /// Files erased (or that would be): frames and what was made from them, in every repo.
        public var files: Int
        public var alertsForgotten: Int
        /// Alerts past retention kept: under a legal hold, or still being told.
        public var alertsKept: Int
    }

    /// What a run did (or, dry, would do).
    public struct Outcome: Sendable, Codable {
        public var time: Date
        public var dryRun: Bool
        public var customers: [CustomerOutcome]
        /// The erasure that took the frames; nil when none was past retention (or on a dry run).
        public var erasure: ErasureInfo?
        public var files: Int
        public var blobsDeleted: Int
        public var bytes: Int64
        public var alertsForgotten: Int
        public var activeHolds: Int
    }

    /// Applies retention as of `now`. A dry run changes nothing and says what would go.
    public func run(now: Date = Date(), dryRun: Bool = false, requester: String) async throws -> Outcome {
        guard let book = try await rules.current() else {
            return Outcome(
                time: now, dryRun: dryRun, customers: [], files: 0, blobsDeleted: 0, bytes: 0, alertsForgotten: 0,
                activeHolds: 0)
        }
        let ownership = try await rules.ownership()
        let held = try await holds.active()
        let seconds = Int64(now.timeIntervalSince1970)
        var customers: [CustomerOutcome] = []
        for customer in book.customers {
            guard let retention = customer.retention else { continue }
            customers.append(
                CustomerOutcome(
                    customer: customer.id, imagesBefore: retention.images.map { seconds - Int64($0) },
                    alertsBefore: retention.alerts.map { seconds - Int64($0) }, files: 0, alertsForgotten: 0,
                    alertsKept: 0))
        }
        var outcome = Outcome(
            time: now, dryRun: dryRun, customers: customers, files: 0, blobsDeleted: 0, bytes: 0, alertsForgotten: 0,
            activeHolds: held.count)
        try await applyImageRetention(&outcome, ownership: ownership, held: held, requester: requester)
        try await applyAlertRetention(&outcome, held: held)
        if !dryRun, outcome.files > 0 || outcome.alertsForgotten > 0 {
            try await access.record(
                AuditEntry(
                    time: now, tokenID: "-", principal: requester, role: "retention", action: "RETENTION",
                    target: outcome.erasure.map { "erasure \($0.id)" },
                    status: 200,
                    detail: "\(outcome.files) files erased (\(outcome.blobsDeleted) blobs), "
                        + "\(outcome.alertsForgotten) alerts forgotten; \(held.count) holds in force"))
            logger.notice(
                "retention applied",
                metadata: [
                    "files": "\(outcome.files)", "blobs": "\(outcome.blobsDeleted)",
                    "alerts": "\(outcome.alertsForgotten)", "holds": "\(held.count)",
                ])
        }
        return outcome
    }

    private func applyImageRetention(
        _ outcome: inout Outcome, ownership: DeviceOwnership, held: [LegalHold], requester: String
    ) async throws {
        let cutoffs = Dictionary(
            uniqueKeysWithValues: outcome.customers.compactMap { entry in
                entry.imagesBefore.map { (entry.customer, $0) }
            })
        guard !cutoffs.isEmpty else { return }
        var selection = ErasureSelection(
            "retention: "
                + cutoffs.sorted { $0.key < $1.key }.map { "\($0.key) images before \($0.value)" }
                .joined(separator: ", ")
        ) { _, path in
            guard let frame = ImageName.frame(ofPath: path),
                let owner = ownership.owner(of: frame.device, at: Double(frame.seconds)),
                let cutoff = cutoffs[owner], frame.seconds < cutoff
            else { return false }
            return !held.contains { $0.holds(device: frame.device, seconds: frame.seconds, owner: owner) }
        }
        // The datasets made from the frames lose them too (verdicts stay as long as their alerts do).
        try await companions.addDatasetFiles(to: &selection)
        let plan = try await store.planErasure(selection).withoutErased(in: store.metadata)
        guard !plan.entries.isEmpty else { return }
        // Counted per owner in one pass: there may be many customers.
        var files: [String: Int] = [:]
        for entry in plan.entries {
            guard let frame = ImageName.frame(ofPath: entry.path),
                let owner = ownership.owner(of: frame.device, at: Double(frame.seconds))
            else { continue }
            files[owner, default: 0] += 1
        }
        for index in outcome.customers.indices {
            outcome.customers[index].files = files[outcome.customers[index].customer] ?? 0
        }
        outcome.files = plan.entries.count
        outcome.bytes = plan.removedBytes
        guard !outcome.dryRun else { return }
        let report = try await store.erase(
            planned: plan, selection: selection.description, requester: requester,
            reason: "retention: kept no longer than each customer's contract allows", now: outcome.time)
        outcome.erasure = report.erasure
        outcome.blobsDeleted = report.blobsDeleted
    }

    private func applyAlertRetention(_ outcome: inout Outcome, held: [LegalHold]) async throws {
        for index in outcome.customers.indices {
            guard let before = outcome.customers[index].alertsBefore else { continue }
            let customer = outcome.customers[index].customer
            let old = try await alerts.alerts(
                AlertFilter(customer: customer, to: before - 1, limit: Self.alertBatch))
            let kept = old.filter { alert in
                alert.state == .open
                    || held.contains { $0.holds(alert: alert.id, device: alert.device, customer: alert.customer) }
            }
            let keptIDs = Set(kept.map(\.id))
            let candidates = old.map(\.id).filter { !keptIDs.contains($0) }
            outcome.customers[index].alertsKept = kept.count
            if outcome.dryRun {
                outcome.customers[index].alertsForgotten = candidates.count
            } else {
                outcome.customers[index].alertsForgotten = try await alerts.forget(
                    alerts: candidates, at: outcome.time
                ).count
            }
            outcome.alertsForgotten += outcome.customers[index].alertsForgotten
        }
    }
}
