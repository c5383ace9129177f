import Crypto
import Foundation
import VigilStore

/// API tokens and the audit log. Implementations store records; the token rules (shapes, secrets, hashing,
/// the constant-time check) live here, once, for all of them: `AccessDatabase` (SQLite in the data folder)
/// and `PostgresAccessStore` (the shared database); one conformance suite runs on each.
///
/// A token is `vgl_<id>_<secret>`; only its SHA-256 is stored, so the store cannot hand out working tokens,
/// and a token is shown once, when created.
public protocol AccessStore: Sendable {
    /// Records a new token (its secret only as `secretSHA256`).
    func insertToken(_ info: TokenInfo, secretSHA256: Data) async throws
    /// A token's record and stored digest; nil when there is no such id.
    func tokenRecord(id: String) async throws -> (info: TokenInfo, secretSHA256: Data)?
    /// Every token, oldest first (never their secrets).
    func tokens() async throws -> [TokenInfo]
    /// Revokes a live token; `token-not-found` when there is none by that id.
    func revoke(_ id: String, at now: Date) async throws
    /// Appends an entry to the audit log; acknowledged means durable.
    func record(_ entry: AuditEntry) async throws
    /// Audit entries, newest first: all, or one token's, since a time.
    func audit(token: String?, since: Date?, limit: Int) async throws -> [AuditEntry]
    /// Deletes up to `limit` entries older than `cutoff`, oldest first; how many went.
    func pruneAudit(before cutoff: Date, limit: Int) async throws -> Int
}

/// A token as listed: everything but its secret.
public struct TokenInfo: Sendable, Hashable, Codable {
    public var id: String
    public var name: String
    public var role: Role
    public var customer: String?
    public var device: String?
    public var created: Date
    public var revoked: Date?
    /// When it stops working by itself; nil: until revoked.
    public var expires: Date?

    public init(
        id: String, name: String, role: Role, customer: String?, device: String?, created: Date, revoked: Date? = nil,
        expires: Date? = nil
    ) {
        self.id = id
        self.name = name
        self.role = role
        self.customer = customer
        self.device = device
        self.created = created
        self.revoked = revoked
        self.expires = expires
    }
}

extension AccessStore {
    /// Makes a token; returns it whole (the only time it is seen) and its record.
    public func createToken(
        name: String, role: Role, customer: String? = nil, device: String? = nil, expires: Date? = nil, at now: Date
    )
        async throws -> (token: String, info: TokenInfo)
    {
        if let expires, expires <= now {
            throw AccessError(
                .badToken, "the expiry \(expires.formatted(.iso8601)) is not in the future",
                value: expires.formatted(.iso8601))
        }
        switch role {
        case .customer where customer == nil || device != nil:
            throw AccessError(.badToken, "a customer token needs --customer ID (and no --device)")
        case .device where device == nil || customer != nil:
            throw AccessError(.badToken, "a device token needs --device ID (and no --customer)")
        case .admin where customer != nil || device != nil, .operator where customer != nil || device != nil:
            throw AccessError(.badToken, "an \(role.rawValue) token sees everything: give no --customer or --device")
        default: break
        }
        let id = Hex.lowercase(TokenSecrets.random(6))
        let token = "vgl_\(id)_\(Hex.lowercase(TokenSecrets.random(32)))"
        let info = TokenInfo(
            id: id, name: name, role: role, customer: customer, device: device, created: now, expires: expires)
        try await insertToken(info, secretSHA256: TokenSecrets.digest(token))
        return (token, info)
    }

    /// The principal a presented token stands for; `unauthenticated` for anything but a live token (known,
    /// not revoked, not expired at `now`).
    public func authenticate(_ token: String, at now: Date = Date()) async throws -> Principal {
        let parts = token.split(separator: "_")
        guard parts.count == 3, parts[0] == "vgl", parts[1].utf8.count == 12 else {
            throw AccessError(.unauthenticated, "the token is not a Vigil token (vgl_<id>_<secret>)")
        }
        let id = String(parts[1])
        guard let (info, digest) = try await tokenRecord(id: id),
            TokenSecrets.constantTimeEqual(digest, TokenSecrets.digest(token))
        else {
            throw AccessError(.unauthenticated, "unknown token", value: id)
        }
        guard info.revoked == nil else {
            throw AccessError(.unauthenticated, "token \(id) was revoked", value: id)
        }
        if let expires = info.expires, now >= expires {
            throw AccessError(
                .unauthenticated, "token \(id) expired at \(expires.formatted(.iso8601)); ask for a new one", value: id)
        }
        return Principal(
            tokenID: id, name: info.name, role: info.role, customer: info.customer, device: info.device,
            expires: info.expires)
    }

    public func audit(token: String? = nil, since: Date? = nil, limit: Int = 100) async throws -> [AuditEntry] {
        try await audit(token: token, since: since, limit: limit)
    }
}

/// The token format's secrets: random bytes, the stored digest, and a comparison that takes the same time
/// wherever the bytes differ.
enum TokenSecrets {
    static func random(_ count: Int) -> [UInt8] {
        var generator = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }

    static func digest(_ token: String) -> Data {
        Data(SHA256.hash(data: Data(token.utf8)))
    }

    static func constantTimeEqual(_ a: Data, _ b: Data) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
