import Foundation
import VigilAlerts
import VigilStages
import VigilStore

/// A legal hold as `vigil hold place` and `POST /v1/holds` place it: on a device's frames, on a customer's
/// frames and alerts (a customer the rules' history knows), or on one alert (found in the alert store) and
/// its frame. Checked here once for both.
public struct HoldRequest: Sendable {
    public enum Target: Sendable, Equatable {
        case device(String)
        case customer(String)
        case alert(String)
    }

    public var target: Target
    public var reason: String
    public var requester: String

    public init(target: Target, reason: String, requester: String) {
        self.target = target
        self.reason = reason
        self.requester = requester
    }

    /// Places the hold; `bad-argument` for an id of the wrong shape, `customer-not-found` for a customer that
    /// never owned a camera, the alert store's `alert-not-found` for an unknown alert.
    public func place(
        store: VersionedStore, alerts: any AlertStore, configuration: ServerConfiguration
    ) async throws -> LegalHold {
        let book = LegalHoldBook(store: store, repo: configuration.holdsRepo)
        switch target {
        case .device(let device):
            guard ImageName.isValidDevice(device) else {
                throw VigilError(
                    .badArgument, "'\(device)' is not a device id: 1-64 letters, digits, '_' or '.' (docs/CONTRACT.md)",
                    value: device)
            }
            return try await book.place(device: device, reason: reason, by: requester)
        case .customer(let customer):
            try FrameSelection.checkCustomer(
                customer, ownership: try await RuleHistory(store: store, repo: configuration.rulesRepo).ownership())
            return try await book.place(customer: customer, reason: reason, by: requester)
        case .alert(let id):
            let alert = try await alerts.alert(id).0
            return try await book.place(
                device: alert.device, alert: (alert.id, alert.time), reason: reason, by: requester)
        }
    }
}
