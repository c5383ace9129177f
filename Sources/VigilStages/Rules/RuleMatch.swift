import Foundation
import VigilVision

/// What makes an image a threat for a customer: the dangerous labels seen at or above their minimum, at a time
/// the customer's schedule is active.
public struct RuleMatch: Sendable, Hashable, Codable {
    public struct Label: Sendable, Hashable, Codable {
        public var label: String
        /// The highest confidence it was seen with, and how many times.
        public var confidence: Double
        public var count: Int
        public var minConfidence: Double

        public init(label: String, confidence: Double, count: Int, minConfidence: Double) {
            self.label = label
            self.confidence = confidence
            self.count = count
            self.minConfidence = minConfidence
        }
    }

    public var customer: String
    public var customerName: String
    public var labels: [Label]
    /// The image's time in the customer's time zone (ISO 8601 with offset).
    public var localTime: String
}

extension RuleBook {
    /// The match for a device's detections at `time`, or nil: no customer has the device, nothing dangerous
    /// was seen confidently enough, or the customer's schedule is not active then.
    public func judge(device: String, time: Date, detections: [Detection]) -> RuleMatch? {
        customer(of: device)?.judge(time: time, detections: detections)
    }
}

extension Customer {
    /// The match for this customer's detections at `time`, or nil: nothing dangerous was seen confidently
    /// enough, or the schedule is not active then.
    public func judge(time: Date, detections: [Detection]) -> RuleMatch? {
        guard isActive(at: time) else { return nil }
        var labels: [String: RuleMatch.Label] = [:]
        for detection in detections {
            guard let minimum = dangerous[detection.label], detection.confidence >= minimum else { continue }
            var label =
                labels[detection.label]
                ?? .init(
                    label: detection.label, confidence: 0, count: 0, minConfidence: minimum)
            label.confidence = max(label.confidence, detection.confidence)
            label.count += 1
            labels[detection.label] = label
        }
        guard !labels.isEmpty else { return nil }
        let zone = TimeZone(identifier: timeZone) ?? .gmt
        return RuleMatch(
            customer: id, customerName: name,
            labels: labels.values.sorted {
                $0.confidence > $1.confidence || ($0.confidence == $1.confidence && $0.label < $1.label)
            },
            localTime: time.formatted(Date.ISO8601FormatStyle(timeZone: zone)))
    }

    /// Whether alerts are active at `time` (always, with no schedule).
    public func isActive(at time: Date) -> Bool {
        guard !schedule.isEmpty else { return true }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: timeZone) ?? .gmt
        let parts = calendar.dateComponents([.weekday, .hour, .minute], from: time)
        guard let weekday = parts.weekday.flatMap(Weekday.init(calendarWeekday:)) else { return false }
        let minute = (parts.hour ?? 0) * 60 + (parts.minute ?? 0)
        return schedule.contains { window in
            if window.from < window.to {
                return window.days.contains(weekday) && window.from <= minute && minute < window.to
            }
            // Past midnight: the evening part on its own day, the morning part on the next.
            return (window.days.contains(weekday) && minute >= window.from)
                || (window.days.contains(weekday.previous) && minute < window.to)
        }
    }
}
