/// Why detection could not run: a stable code, a sentence saying how to fix it, and the value at fault.
public struct DetectorError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Codable {
        case runtimeMissing = "runtime-missing"
        case modelMissing = "model-missing"
        case badModel = "bad-model"
        case badLabels = "bad-labels"
        case inference = "inference-failed"
        case badImage = "bad-image"
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
