import Foundation

/// What a token may do: everything, run the system, see one customer's own data, or upload as one camera.
public enum Role: String, Sendable, Hashable, Codable, CaseIterable {
    /// Everything, including tokens and the audit log.
    case admin
    /// Pipelines, all data, alerts and stats; not tokens or the audit log.
    case `operator`
    /// Only the images, detections, alerts and stats of the customer's own devices.
    case customer
    /// Only uploading images whose name carries its own device id.
    case device
}

/// Who is asking: the identity a request's token stands for.
public struct Principal: Sendable, Hashable, Codable {
    /// The token's public id (the part of the token before its secret).
    public var tokenID: String
    public var name: String
    public var role: Role
    /// For `customer` tokens: the customer id of the rules (docs/RULES.md).
    public var customer: String?
    /// For `device` tokens: the device id of the naming contract.
    public var device: String?
    /// When the token stops working; nil: until revoked.
    public var expires: Date?

    public init(
        tokenID: String, name: String, role: Role, customer: String? = nil, device: String? = nil,
        expires: Date? = nil
    ) {
        self.tokenID = tokenID
        self.name = name
        self.role = role
        self.customer = customer
        self.device = device
        self.expires = expires
    }

    /// Whether this principal sees every customer's data (admins and operators).
    public var seesEverything: Bool { role == .admin || role == .operator }
}
