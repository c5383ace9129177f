import Foundation
import VigilStages
import VigilVision

/// The JSON body of one alert to one contact (docs/schemas/alert.schema.json): who is told, what was seen,
/// where and when, how to see the image, and a sentence to put in an email or text as it is.
public struct AlertPayload: Sendable, Hashable, Codable {
    public struct Customer: Sendable, Hashable, Codable {
        public var id: String
        public var name: String
    }

    public struct Escalation: Sendable, Hashable, Codable {
        /// 0 for the first contact told, 1 for the next, …
        public var level: Int
        public var contacts: Int
        /// Seconds this contact has to acknowledge before the next one is told.
        public var acknowledgeWithin: Double

        public init(level: Int, contacts: Int, acknowledgeWithin: Double) {
            self.level = level
            self.contacts = contacts
            self.acknowledgeWithin = acknowledgeWithin
        }
    }

    public struct Image: Sendable, Hashable, Codable {
        public var name: String
        public var width: Int
        public var height: Int
        public var bytes: Int64
        public var sha256: String
        /// Where the reviewed copy is: `threats@<commit>:/<device>/<name>`.
        public var address: String
        /// A link to it, when the notifier was given the service's base URL.
        public var url: String?
        /// The image itself (base64), when the notifier was told to send images inline.
        public var contentType: String?
        public var base64: String?

        public init(
            name: String, width: Int, height: Int, bytes: Int64, sha256: String, address: String, url: String? = nil
        ) {
            self.name = name
            self.width = width
            self.height = height
            self.bytes = bytes
            self.sha256 = sha256
            self.address = address
            self.url = url
        }
    }

    public var alertId: String
    public var idempotencyKey: String
    public var customer: Customer
    public var contact: Contact
    public var escalation: Escalation
    public var device: String
    public var time: Int64
    public var isoTime: String
    /// The time in the customer's time zone.
    public var localTime: String
    public var labels: [RuleMatch.Label]
    public var image: Image
    public var message: String
    /// The threat record: `threats@<commit>:/<device>/<name>.json`, whose provenance leads to the upload.
    public var threat: String
    public var rules: ThreatRecord.RulesVersion
    public var model: Detector.ModelIdentity

    public init(alert: AlertInfo, level: Int, image: Image) {
        let record = alert.record
        alertId = alert.id
        idempotencyKey = AlertInfo.idempotencyKey(alert: alert.id, level: level)
        customer = Customer(id: record.customer, name: record.customerName)
        contact = record.contacts[level]
        escalation = Escalation(
            level: level, contacts: record.contacts.count, acknowledgeWithin: record.acknowledgeWithin)
        device = record.device
        time = record.time
        isoTime = record.isoTime
        localTime = record.localTime
        labels = record.labels
        self.image = image
        threat = alert.threat
        rules = record.rules
        model = record.model
        message = Self.sentence(record)
    }

    /// "Person (99%) and car (81%) seen by camera frontdoor of Acme Storage Ltd at 08:26 on 2025-11-22
    /// (local time)."
    public static func sentence(_ record: ThreatRecord) -> String {
        let seen = record.labels.map { label in
            "\(label.label) (\(Int((label.confidence * 100).rounded()))%\(label.count > 1 ? ", ×\(label.count)" : ""))"
        }
        var list = seen.count > 1 ? seen.dropLast().joined(separator: ", ") + " and " + seen.last! : seen.first ?? ""
        if let first = list.first { list = first.uppercased() + list.dropFirst() }
        // localTime is ISO 8601 with the customer's offset: 2025-11-22T08:26:40Z or …T08:26:40+01:00.
        let parts = record.localTime.split(separator: "T", maxSplits: 1)
        let when =
            parts.count == 2 ? "at \(parts[1].prefix(5)) on \(parts[0]) (local time)" : "at \(record.isoTime)"
        return "\(list) seen by camera \(record.device) of \(record.customerName) \(when)."
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    public func encoded() throws -> Data { try Self.encoder.encode(self) }
}
