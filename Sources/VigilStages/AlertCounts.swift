import Foundation

/// What the `analytics` stage counts: alerts (threat records) per device, customer, UTC day, UTC hour of day
/// and label; invalid images per device and reason (a camera that starts sending grey or corrupt frames stands
/// out). Keys sorted, so the same data gives the same bytes.
public struct AlertCounts: Sendable, Hashable, Codable {
    public struct Alerts: Sendable, Hashable, Codable {
        public var total = 0
        public var byDevice: [String: Int] = [:]
        public var byCustomer: [String: Int] = [:]
        /// `2025-11-22` (UTC) → alerts.
        public var byDay: [String: Int] = [:]
        /// `00`–`23` (UTC) → alerts.
        public var byHour: [String: Int] = [:]
        public var byLabel: [String: Int] = [:]
        /// `00`–`23` in each customer's own time zone → alerts (what verdict rates by hour are set against).
        public var byLocalHour: [String: Int] = [:]
        /// The model that saw them (`ThreatRecord.modelVersion`) → alerts.
        public var byModel: [String: Int] = [:]

        public init() {}

        enum CodingKeys: String, CodingKey {
            case total, byDevice, byCustomer, byDay, byHour, byLabel, byLocalHour, byModel
        }

        /// Counts written before `byLocalHour` and `byModel` existed read with those empty.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            total = try container.decode(Int.self, forKey: .total)
            byDevice = try container.decode([String: Int].self, forKey: .byDevice)
            byCustomer = try container.decode([String: Int].self, forKey: .byCustomer)
            byDay = try container.decode([String: Int].self, forKey: .byDay)
            byHour = try container.decode([String: Int].self, forKey: .byHour)
            byLabel = try container.decode([String: Int].self, forKey: .byLabel)
            byLocalHour = try container.decodeIfPresent([String: Int].self, forKey: .byLocalHour) ?? [:]
            byModel = try container.decodeIfPresent([String: Int].self, forKey: .byModel) ?? [:]
        }
    }

    public struct Invalid: Sendable, Hashable, Codable {
        public var total = 0
        public var byDevice: [String: Int] = [:]
        public var byReason: [String: Int] = [:]
        public var byDeviceAndReason: [String: [String: Int]] = [:]
    }

    public var alerts = Alerts()
    public var invalid = Invalid()
    /// False-alarm and confirmed rates from the verdicts on these alerts; nil where none were read (the
    /// analytics stage's own output, which the API and `vigil stats` complete with the verdicts).
    public var verdicts: VerdictRates?
    /// The commits counted: `repo@commit`.
    public var sources: [String] = []

    public init() {}

    /// Made once, not per threat counted.
    private static let utc: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = .gmt
        return calendar
    }()

    public mutating func add(_ threat: ThreatRecord) {
        alerts.total += 1
        alerts.byDevice[threat.device, default: 0] += 1
        alerts.byCustomer[threat.customer, default: 0] += 1
        let time = Date(timeIntervalSince1970: TimeInterval(threat.time))
        let parts = Self.utc.dateComponents([.year, .month, .day, .hour], from: time)
        alerts.byDay[String(format: "%04d-%02d-%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0), default: 0] +=
            1
        alerts.byHour[String(format: "%02d", parts.hour ?? 0), default: 0] += 1
        for label in threat.labels { alerts.byLabel[label.label, default: 0] += 1 }
        alerts.byLocalHour[threat.localHour, default: 0] += 1
        alerts.byModel[threat.modelVersion, default: 0] += 1
    }

    public mutating func add(invalid reason: ValidateStage.Reason) {
        let device = reason.device ?? "(unnamed)"
        invalid.total += 1
        invalid.byDevice[device, default: 0] += 1
        invalid.byReason[reason.code, default: 0] += 1
        invalid.byDeviceAndReason[device, default: [:]][reason.code, default: 0] += 1
    }

    /// `table,key,count` rows (the device-and-reason table keyed `device/reason`).
    public var csv: String {
        var rows = ["table,key,count"]
        func add(_ table: String, _ counts: [String: Int]) {
            rows += counts.sorted { $0.key < $1.key }.map { "\(table),\(Self.csvField($0.key)),\($0.value)" }
        }
        add("alerts-by-device", alerts.byDevice)
        add("alerts-by-customer", alerts.byCustomer)
        add("alerts-by-day", alerts.byDay)
        add("alerts-by-hour", alerts.byHour)
        add("alerts-by-label", alerts.byLabel)
        add("invalid-by-device", invalid.byDevice)
        add("invalid-by-reason", invalid.byReason)
        add(
            "invalid-by-device-and-reason",
            invalid.byDeviceAndReason.reduce(into: [:]) { out, entry in
                for (reason, count) in entry.value { out["\(entry.key)/\(reason)"] = count }
            })
        return rows.joined(separator: "\n") + "\n"
    }

    /// The charts, by file name.
    public var charts: [String: BarChart] {
        func sorted(_ counts: [String: Int]) -> [(label: String, value: Int)] {
            counts.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        }
        let hours = (0..<24).map { String(format: "%02d", $0) }.map { ($0, alerts.byHour[$0] ?? 0) }
        return (verdicts?.charts ?? [:]).merging(
            [
                "by-device.svg": BarChart(
                    title: "Alerts per device", xLabel: "device", yLabel: "alerts", bars: sorted(alerts.byDevice)),
                "by-day.svg": BarChart(
                    title: "Alerts per day (UTC)", xLabel: "day", yLabel: "alerts", bars: sorted(alerts.byDay)),
                "by-hour.svg": BarChart(
                    title: "Alerts per hour of day (UTC)", xLabel: "hour", yLabel: "alerts", bars: hours),
                "by-label.svg": BarChart(
                    title: "Alerts per label", xLabel: "label", yLabel: "alerts", bars: sorted(alerts.byLabel)),
                "invalid-by-device.svg": BarChart(
                    title: "Invalid images per device", xLabel: "device", yLabel: "images",
                    bars: sorted(invalid.byDevice)),
                "invalid-by-reason.svg": BarChart(
                    title: "Invalid images per reason", xLabel: "reason", yLabel: "images",
                    bars: sorted(invalid.byReason)),
            ], uniquingKeysWith: { _, own in own })
    }

    static func csvField(_ text: String) -> String {
        text.contains(",") || text.contains("\"") ? "\"\(text.replacingOccurrences(of: "\"", with: "\"\""))\"" : text
    }
}
