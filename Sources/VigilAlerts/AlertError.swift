/// A notifier failure with a stable code, a sentence that says what was wrong and how to fix it, and the
/// offending value, printed by the CLI as one line.
public struct AlertError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Codable {
        case alertNotFound = "alert-not-found"
        case badConfiguration = "bad-alert-config"
        case badState = "bad-alert-state"
        case badThreat = "bad-threat"
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

    public static func notFound(_ id: String) -> AlertError {
        AlertError(.alertNotFound, "no alert '\(id)'; `vigil alerts list` shows the alerts there are", value: id)
    }
}
