import Crypto
import Foundation
import VigilStages
import VigilStore

/// One threat to tell a customer about, and where its telling stands.
public struct AlertInfo: Sendable, Hashable, Codable {
    public enum State: String, Sendable, Hashable, Codable, CaseIterable {
        /// Being delivered, or delivered and waiting for an acknowledgement.
        case open
        /// Someone acknowledged it: nobody else is told.
        case acknowledged
        /// Every contact was told and nobody acknowledged in time.
        case unacknowledged
        /// A delivery ran out of attempts or was refused: on the dead-letter list until `vigil alerts retry`.
        case dead
    }

    /// Stable for one image judged for one customer (so re-judging history does not alert twice).
    public var id: String
    public var state: State
    /// The contact told last (an index into `record.contacts`).
    public var level: Int
    public var customer: String
    public var device: String
    public var time: Int64
    /// The threat record it came from: `repo@commit:/path`.
    public var threat: String
    public var record: ThreatRecord
    public var created: Date
    /// When the next contact is told unless someone acknowledges first.
    public var escalateAt: Date?
    public var acknowledged: Date?
    public var acknowledgedBy: String?
    /// The trace of the frame it is about (when tracing was on): its deliveries are spans of that trace.
    public var trace: TraceHeaders?

    public init(
        id: String, state: State, level: Int, customer: String, device: String, time: Int64, threat: String,
        record: ThreatRecord, created: Date, escalateAt: Date? = nil, acknowledged: Date? = nil,
        acknowledgedBy: String? = nil, trace: TraceHeaders? = nil
    ) {
        self.id = id
        self.state = state
        self.level = level
        self.customer = customer
        self.device = device
        self.time = time
        self.threat = threat
        self.record = record
        self.created = created
        self.escalateAt = escalateAt
        self.acknowledged = acknowledged
        self.acknowledgedBy = acknowledgedBy
        self.trace = trace
    }

    /// The id of the alert for `record`: a hash of customer, device, image name and image content.
    public static func id(for record: ThreatRecord) -> String {
        let text = [record.customer, record.device, record.image.name, record.image.sha256].joined(separator: "\n")
        return Hex.lowercase(SHA256.hash(data: Data(text.utf8)).prefix(16))
    }

    /// `Idempotency-Key` of the delivery to the contact at `level`: the same on every retry and after restarts.
    public static func idempotencyKey(alert: String, level: Int) -> String { "\(alert)-\(level)" }
}

/// One alert's delivery to one contact.
public struct DeliveryInfo: Sendable, Hashable, Codable {
    public enum State: String, Sendable, Hashable, Codable, CaseIterable {
        case pending
        case delivered
        /// Out of attempts, or refused by the API (a 4xx other than 408 and 429).
        case dead
        /// The alert was acknowledged before this delivery went out.
        case cancelled
    }

    public var alert: String
    public var level: Int
    public var contact: String
    public var idempotencyKey: String
    public var state: State
    public var attempts: Int
    public var nextAttempt: Date
    public var lastStatus: Int?
    public var lastError: String?
    public var delivered: Date?
    public var created: Date
}
