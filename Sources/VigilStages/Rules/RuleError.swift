/// A rules file that cannot be used: the file and field at fault (`customers[1].dangerous.person`), what is
/// wrong and how to fix it, and the offending value.
public struct RuleError: Error, Sendable, Hashable, CustomStringConvertible {
    public var file: String?
    public var field: String
    public var message: String
    public var value: String?

    public init(file: String? = nil, field: String, _ message: String, value: String? = nil) {
        self.file = file
        self.field = field
        self.message = message
        self.value = value
    }

    public var code: String { "bad-rules" }

    public var description: String {
        (file.map { "\($0): " } ?? "") + "\(field): \(message) [\(code)]"
    }
}
