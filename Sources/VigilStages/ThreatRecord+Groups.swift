import Foundation

extension ThreatRecord {
    /// The frame's hour of day in the customer's time zone, `00`–`23`: the two digits after the `T` of
    /// `localTime` (ISO 8601 with the customer's offset), or the UTC hour if those are not there.
    public var localHour: String {
        if let t = localTime.firstIndex(of: "T") {
            let digits = localTime[localTime.index(after: t)...].prefix(2)
            if digits.count == 2, let hour = Int(digits), (0..<24).contains(hour) { return String(digits) }
        }
        return String(format: "%02d", Int((time % 86_400 + 86_400) % 86_400 / 3_600))
    }

    /// The model that saw it, as alerts and verdicts are grouped by it: its name, `@`, and the first 12 hex
    /// digits of its SHA-256.
    public var modelVersion: String { "\(model.name)@\(model.sha256.prefix(12))" }
}
