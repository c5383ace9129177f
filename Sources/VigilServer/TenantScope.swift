import Foundation
import VigilAccess
import VigilStages
import VigilStore

/// What keeps a customer to its own data: which customer owned each device when (from the rules repo's
/// history, the same rules that judge threats: `DeviceOwnership`), and which device and image time a path in
/// a data repo belongs to. A customer reads a device's data only from the times it owned the device.
final class TenantScope: Sendable {
    let rules: RuleHistory

    init(rules: RuleHistory) {
        self.rules = rules
    }

    /// What `principal` may see.
    func visibility(of principal: Principal) async throws -> Visibility {
        switch principal.role {
        case .admin, .operator: return .everything
        case .device: return .device(principal.device ?? "")
        case .customer: return .customer(principal.customer ?? "", try await ownership())
        }
    }

    /// The device a file of a data repo belongs to and, when its name carries one, its image's time: images
    /// are `/<device>-<seconds>.<ext>` (in `/valid/` or `/invalid/` after validation, with `.reason.json`
    /// beside the invalid), records `/<device>/<image name>.json`.
    static func image(ofPath path: String) -> (device: String, seconds: Int64?)? {
        let parts = path.split(separator: "/").map(String.init)
        guard var name = parts.last else { return nil }
        for suffix in [".reason.json", ".json"] where name.hasSuffix(suffix) {
            name = String(name.dropLast(suffix.count))
            break
        }
        let image = try? ImageName.parse(name)
        if parts.count >= 2, parts[0] != "valid", parts[0] != "invalid" {
            return (parts[0], image?.device == parts[0] ? image?.seconds : nil)
        }
        return image.map { ($0.device, $0.seconds) }
    }

    /// Who owned which device when, by the rules repo's history (the empty ownership before any rules).
    func ownership() async throws -> DeviceOwnership {
        try await rules.ownership()
    }
}

/// What one principal may see of the tenants' data.
enum Visibility: Sendable {
    /// Admins and operators.
    case everything
    /// A device token: its own device.
    case device(String)
    /// A customer: each device's data from the times the customer owned it.
    case customer(String, DeviceOwnership)

    /// Whether data of `device` from an image taken at `seconds` may be read. A customer needs the time: a
    /// file that names none is not shown to one.
    func mayRead(device: String, at seconds: Int64?) -> Bool {
        switch self {
        case .everything: return true
        case .device(let own): return device == own
        case .customer(let id, let ownership):
            guard let seconds else { return false }
            return ownership.owner(of: device, at: Double(seconds)) == id
        }
    }

    /// Whether the file at `path` of a data repo may be read.
    func mayRead(path: String) -> Bool {
        if case .everything = self { return true }
        guard let image = TenantScope.image(ofPath: path) else { return false }
        return mayRead(device: image.device, at: image.seconds)
    }

    /// Whether all of `device`'s data, at every time, may be read (no move in or out of this customer).
    func hasAlways(_ device: String) -> Bool {
        switch self {
        case .everything: return true
        case .device(let own): return device == own
        case .customer(let id, let ownership): return ownership.owns(device, always: id)
        }
    }

    /// The devices whose data may show at all; nil for every device.
    var devices: Set<String>? {
        switch self {
        case .everything: return nil
        case .device(let own): return [own]
        case .customer(let id, let ownership): return ownership.devices(everOwnedBy: id)
        }
    }
}
