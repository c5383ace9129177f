import Foundation
import VigilVision

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
    /// digits of its SHA-256; for a model read from a repo, also `+`, the repo and the first 8 digits of the
    /// commit (the same weights with other labels are another version).
    public var modelVersion: String { model.version }
}

extension Detector.ModelIdentity {
    /// `yolov4-tiny@3f3e60e58466`, or `yolov4-tiny@3f3e60e58466+models@1a2b3c4d` for a model from a repo.
    public var version: String {
        let weights = "\(name)@\(sha256.prefix(12))"
        guard let source, let at = source.firstIndex(of: "@") else { return weights }
        let commit = source[source.index(after: at)...].prefix { $0 != ":" }
        return "\(weights)+\(source[..<at])@\(commit.prefix(8))"
    }
}
