import Foundation
import VigilAlerts
import VigilStages
import VigilStore

/// An erasure as `vigil erase` and `POST /v1/erasures` run it: the selection checked (customers looked up in
/// the rules' history), planned, refused with `held` when it takes evidence under a legal hold, and carried
/// out; for a customer, its alerts are forgotten as well, since their records hold its contacts, its verdicts
/// on them (who judged, their notes) are erased with its frames, and the past rules versions that name it keep
/// only what says which cameras it owned (`RulesRedaction`). The verdicts on the alerts a selected
/// camera's frames raised, and the dataset files that describe the frames, go with them (`ErasureCompanions`).
public struct ErasureRequest: Sendable {
    public var frames: FrameSelection
    public var reason: String
    public var requester: String
    public var dryRun: Bool

    public init(frames: FrameSelection, reason: String, requester: String, dryRun: Bool) {
        self.frames = frames
        self.reason = reason
        self.requester = requester
        self.dryRun = dryRun
    }

    /// Runs it on `store`, with the alerts in `alerts`; the summary says what was (or would be) taken.
    public func run(
        store: VersionedStore, alerts: any AlertStore, configuration: ServerConfiguration, now: Date = Date()
    ) async throws -> (summary: ErasureSummary, report: ErasureReport?) {
        let held = try await LegalHoldBook(store: store, repo: configuration.holdsRepo).active()
        // Who owned which camera when: for the customers erased, and for customers' holds.
        let ownership =
            frames.customers.isEmpty && !held.contains(where: { $0.customer != nil })
            ? DeviceOwnership(history: [])
            : try await RuleHistory(store: store, repo: configuration.rulesRepo).ownership()
        var frames = self.frames
        frames.addresses += frames.customers.map { "\(configuration.verdictsRepo):/\($0)" }
        var selection = try frames.erasureSelection(ownership: ownership)
        let companions = ErasureCompanions(
            store: store, alerts: alerts, verdictsRepo: configuration.verdictsRepo,
            datasetsRepo: configuration.datasetsRepo)
        try await companions.addVerdicts(to: &selection, devices: frames.namedDevices)
        try await companions.addDatasetFiles(to: &selection)
        let inForce = try await RulesRedaction(store: store, repo: configuration.rulesRepo).add(
            customers: Set(frames.customers), to: &selection)
        let notes = inForce.sorted().map { customer in
            "customer '\(customer)' is in the rules in force: its name and contacts stay there; remove it from the "
                + "rules and erase it again to take them from the rules' history too"
        }
        let plan = try await store.planErasure(selection)
        try LegalHoldBook.checkNotHeld(plan, holds: held, ownership: ownership)
        var customerAlerts: [String] = []
        for customer in frames.customers {
            customerAlerts += try await alerts.alerts(AlertFilter(customer: customer, limit: .max)).map(\.id)
        }
        guard !dryRun else {
            var summary = ErasureSummary(plan: plan, report: nil)
            summary.alertsForgotten = customerAlerts.count
            summary.notes = notes
            return (summary, nil)
        }
        let report = try await store.erase(
            planned: plan, selection: selection.description, requester: requester, reason: reason, now: now)
        var summary = ErasureSummary(plan: report.plan, report: report)
        summary.alertsForgotten = try await alerts.forget(alerts: customerAlerts, at: now).count
        summary.notes = notes
        return (summary, report)
    }
}
