import Foundation
import VigilStore

/// What an erasure keeps of a rules file version that named an erased customer (`RulesRedaction`): the file's
/// customers as parsed, each erased one without its name and contacts (its id, devices, schedule, thresholds
/// and retention stay: they say who owned which camera when, and hold no one's personal data). JSON, read only
/// by `RuleHistory` through `ErasureLog.remainder`.
struct RuleFileRemainder: Codable, Sendable {
    static let currentFormat = "vigil-rules-remainder/1"
    /// What an erased customer's name becomes.
    static let erasedName = "(erased)"

    var format = Self.currentFormat
    var customers: [Customer]

    init(customers: [Customer], erasing erased: Set<String>) {
        self.customers = customers.map { customer in
            guard erased.contains(customer.id) else { return customer }
            var redacted = customer
            redacted.name = Self.erasedName
            redacted.contacts = []
            redacted.escalation.order = []
            return redacted
        }
    }

    /// Whether `customer` is already without its name and contacts.
    static func isRedacted(_ customer: Customer) -> Bool {
        customer.name == erasedName && customer.contacts.isEmpty && customer.escalation.order.isEmpty
    }

    func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return try encoder.encode(self)
    }

    /// What was kept of the rules file at `path` (named in errors).
    static func decode(_ data: Data, path: String) throws -> RuleFileRemainder {
        let remainder: RuleFileRemainder
        do {
            remainder = try JSONDecoder().decode(RuleFileRemainder.self, from: data)
        } catch {
            throw VigilError(
                .corruptData, "what an erasure kept of the rules file \(path) does not decode: \(error)", value: path)
        }
        guard remainder.format == currentFormat else {
            throw VigilError(
                .corruptData,
                "what an erasure kept of the rules file \(path) is in the format '\(remainder.format)', which this "
                    + "Vigil does not read (it reads \(currentFormat)); run a newer Vigil", value: path)
        }
        return remainder
    }
}
