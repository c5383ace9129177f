import Foundation
import Hummingbird
import VigilAccess

/// The request context: Hummingbird's core storage plus who is asking (set by `AccessMiddleware`) and what
/// the request touched (for the audit log).
public struct VigilRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Nil on the public endpoints (`/healthz`, `/openapi.yaml`).
    public var principal: Principal?
    /// The client's IP address as the connection shows it; nil where there is none (in-process tests).
    public let remoteAddress: String?
    /// Uploads stream and enforce their own limit; decoded JSON bodies are small.
    public var maxUploadSize: Int { 1 << 20 }

    /// ISO 8601 dates, sorted keys, addresses with their slashes as they are.
    public var responseEncoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress?.ipAddress
    }

    /// The principal, or 401 (only the public endpoints run without one, and they do not call this).
    func requirePrincipal() throws -> Principal {
        guard let principal else { throw APIError.unauthenticated("this endpoint needs a token") }
        return principal
    }

    /// The principal if its role is one of `roles`, else 403.
    func require(_ roles: Set<Role>, to action: String) throws -> Principal {
        let principal = try requirePrincipal()
        guard roles.contains(principal.role) else {
            throw APIError.forbidden(
                "a \(principal.role.rawValue) token may not \(action) (needs "
                    + roles.map(\.rawValue).sorted().joined(separator: " or ") + ")")
        }
        return principal
    }
}
