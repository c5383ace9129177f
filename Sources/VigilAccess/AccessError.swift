/// An access failure: a stable code, a sentence that says what was wrong and how to fix it, and the offending
/// value (never a token's secret).
public struct AccessError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Codable {
        /// No credentials, or credentials that are not a live token (HTTP 401).
        case unauthenticated = "unauthenticated"
        /// A valid token whose role or tenant does not allow the request (HTTP 403).
        case forbidden = "forbidden"
        case badToken = "bad-token"
        case tokenNotFound = "token-not-found"
        case io = "io"
    }

    public var code: Code
    public var message: String
    public var value: String?

    public init(_ code: Code, _ message: String, value: String? = nil) {
        self.code = code
        self.message = message
        self.value = value
    }

    public var description: String { "\(message) [\(code.rawValue)]" }
}
