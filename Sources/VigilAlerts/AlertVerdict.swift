import Foundation
import VigilStages
import VigilStore

/// What a person says an alert really was: the ground truth that false-alarm rates are counted from and that
/// retraining datasets are made of. It carries what it judges (device, time, the labels seen, the model that
/// saw them), so that rates per device, label, hour or model need only the verdicts.
public struct AlertVerdict: Sendable, Hashable, Codable {
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        /// Something the customer wanted to hear about was there.
        case confirmed
        /// Nothing was: a shadow, a pet, a tree, a reflection.
        case falseAlarm = "false-alarm"
    }

    public var alert: String
    public var verdict: Kind
    /// What it really was (`shadow`, `cat`, `courier`), in the judge's words; optional.
    public var label: String?
    public var note: String?
    /// Who judged it: `name (role)`.
    public var by: String
    public var at: Date
    public var customer: String
    public var device: String
    /// The frame's time (seconds since 1970, UTC), and its hour of day in the customer's time zone.
    public var time: Int64
    public var localHour: Int
    /// The labels the detector saw at or above the customer's minimum: what raised the alert.
    public var labels: [String]
    /// The model that saw them, and the threat record the alert came from (`repo@commit:/path`).
    public var model: String
    public var threat: String
    /// The verdicts this one replaced, oldest first.
    public var earlier: [Earlier] = []

    /// A verdict as it stood before someone changed it.
    public struct Earlier: Sendable, Hashable, Codable {
        public var verdict: Kind
        public var label: String?
        public var note: String?
        public var by: String
        public var at: Date

        init(_ verdict: AlertVerdict) {
            self.verdict = verdict.verdict
            label = verdict.label
            note = verdict.note
            by = verdict.by
            at = verdict.at
        }
    }

    public init(
        alert: AlertInfo, verdict: Kind, label: String?, note: String?, by: String, at: Date
    ) {
        self.alert = alert.id
        self.verdict = verdict
        self.label = label
        self.note = note
        self.by = by
        self.at = at
        customer = alert.customer
        device = alert.device
        time = alert.time
        localHour = Int(alert.record.localHour) ?? 0
        labels = alert.record.labels.map(\.label)
        model = alert.record.modelVersion
        threat = alert.threat
    }

    /// This verdict as the rates count it.
    public var judged: VerdictRates.Judged {
        VerdictRates.Judged(
            falseAlarm: verdict == .falseAlarm, device: device, customer: customer, labels: labels,
            hour: String(format: "%02d", localHour), model: model, cause: label)
    }

    /// Checks what a person typed: a label of 1 to 64 characters (Unicode scalars, as JSON Schema counts them)
    /// with at least one that is not a space, and a note of at most 2,000; neither with control characters
    /// (a note may have tabs and line breaks). Throws `bad-verdict` saying what to change.
    public static func check(label: String?, note: String?) throws {
        if let label {
            let scalars = label.unicodeScalars
            guard scalars.count <= 64, scalars.contains(where: { !$0.properties.isWhitespace }),
                !scalars.contains(where: Self.isControl)
            else {
                throw VigilError(
                    .badVerdict,
                    "a verdict's label is 1 to 64 characters, not only spaces, without line breaks or control "
                        + "characters (shadow, cat, tree)", value: label)
            }
        }
        if let note,
            note.unicodeScalars.count > 2_000
                || note.unicodeScalars.contains(where: { $0 != "\n" && $0 != "\t" && Self.isControl($0) })
        {
            throw VigilError(
                .badVerdict, "a verdict's note is at most 2,000 characters, without control characters",
                value: String(note.prefix(80)))
        }
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.generalCategory == .control
    }
}
