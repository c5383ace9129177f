import Foundation

/// One data access or change: who, what, when, and how it ended.
public struct AuditEntry: Sendable, Hashable, Codable {
    public var sequence: Int64
    public var time: Date
    /// The token's id and name, or "-" for requests without a valid token.
    public var tokenID: String
    public var principal: String
    public var role: String
    /// `PUT /v1/images/{name}`-style: the method and the path (never the query, which may hold secrets).
    public var action: String
    /// What it touched, e.g. `images@<commit>:/cam1-1700000000.jpg`.
    public var target: String?
    /// The HTTP status.
    public var status: Int
    public var detail: String?

    public init(
        sequence: Int64 = 0, time: Date, tokenID: String, principal: String, role: String, action: String,
        target: String? = nil, status: Int, detail: String? = nil
    ) {
        self.sequence = sequence
        self.time = time
        self.tokenID = tokenID
        self.principal = principal
        self.role = role
        self.action = action
        self.target = target
        self.status = status
        self.detail = detail
    }
}
