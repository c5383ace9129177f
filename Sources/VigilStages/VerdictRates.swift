import Foundation

/// False-alarm and confirmed rates: the verdicts people gave, set against the alerts there were, per device,
/// customer, label seen, hour of day (the customer's time) and model. A rate is over the alerts that have a
/// verdict; `judgedShare` says how many of the alerts that is.
public struct VerdictRates: Sendable, Hashable, Codable {
    /// One group's numbers.
    public struct Tally: Sendable, Hashable, Codable {
        public var alerts = 0
        public var judged = 0
        public var confirmed = 0
        public var falseAlarms = 0

        public init() {}

        /// False alarms over the alerts judged; nil before any was.
        public var falseAlarmRate: Double? { judged > 0 ? Double(falseAlarms) / Double(judged) : nil }
        public var confirmedRate: Double? { judged > 0 ? Double(confirmed) / Double(judged) : nil }
        /// The alerts judged over the alerts; nil without alerts.
        public var judgedShare: Double? { alerts > 0 ? Double(judged) / Double(alerts) : nil }

        enum CodingKeys: String, CodingKey {
            case alerts, judged, confirmed, falseAlarms, falseAlarmRate, confirmedRate, judgedShare
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            alerts = try container.decode(Int.self, forKey: .alerts)
            judged = try container.decode(Int.self, forKey: .judged)
            confirmed = try container.decode(Int.self, forKey: .confirmed)
            falseAlarms = try container.decode(Int.self, forKey: .falseAlarms)
        }

        /// The counts, and the rates they give (left out where they are undefined).
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(alerts, forKey: .alerts)
            try container.encode(judged, forKey: .judged)
            try container.encode(confirmed, forKey: .confirmed)
            try container.encode(falseAlarms, forKey: .falseAlarms)
            try container.encodeIfPresent(falseAlarmRate, forKey: .falseAlarmRate)
            try container.encodeIfPresent(confirmedRate, forKey: .confirmedRate)
            try container.encodeIfPresent(judgedShare, forKey: .judgedShare)
        }

        mutating func judge(falseAlarm: Bool) {
            judged += 1
            if falseAlarm { falseAlarms += 1 } else { confirmed += 1 }
        }
    }

    /// One verdict, as the rates count it.
    public struct Judged: Sendable {
        public var falseAlarm: Bool
        public var device: String
        public var customer: String
        /// The labels the detector saw; the hour of day (`00`–`23`, the customer's time); the model version.
        public var labels: [String]
        public var hour: String
        public var model: String
        /// What it really was, in the judge's words.
        public var cause: String?

        public init(
            falseAlarm: Bool, device: String, customer: String, labels: [String], hour: String, model: String,
            cause: String?
        ) {
            self.falseAlarm = falseAlarm
            self.device = device
            self.customer = customer
            self.labels = labels
            self.hour = hour
            self.model = model
            self.cause = cause
        }
    }

    public var total = Tally()
    public var byDevice: [String: Tally] = [:]
    public var byCustomer: [String: Tally] = [:]
    /// By each label the detector saw (an alert with two labels counts under both).
    public var byLabel: [String: Tally] = [:]
    /// By hour of day in the customer's time zone, `00`–`23`.
    public var byHour: [String: Tally] = [:]
    public var byModel: [String: Tally] = [:]
    /// What false alarms really were, by the judges' labels (`shadow`: 12); `(none given)` without one.
    public var falseAlarmCauses: [String: Int] = [:]

    public init() {}

    /// A share as a percent with one decimal (`12.5%`), `-` when it is undefined: how people read the rates.
    public static func percent(_ share: Double?) -> String {
        share.map { String(format: "%.1f%%", $0 * 100) } ?? "-"
    }

    /// The rates of `verdicts` against `alerts`, the counts of the same alerts (those a verdict is on among
    /// them).
    public init(alerts: AlertCounts.Alerts, verdicts: [Judged]) {
        total.alerts = alerts.total
        func seed(_ table: inout [String: Tally], _ counts: [String: Int]) {
            for (key, count) in counts { table[key, default: Tally()].alerts = count }
        }
        seed(&byDevice, alerts.byDevice)
        seed(&byCustomer, alerts.byCustomer)
        seed(&byLabel, alerts.byLabel)
        seed(&byHour, alerts.byLocalHour)
        seed(&byModel, alerts.byModel)
        for verdict in verdicts {
            total.judge(falseAlarm: verdict.falseAlarm)
            byDevice[verdict.device, default: Tally()].judge(falseAlarm: verdict.falseAlarm)
            byCustomer[verdict.customer, default: Tally()].judge(falseAlarm: verdict.falseAlarm)
            for label in Set(verdict.labels) {
                byLabel[label, default: Tally()].judge(falseAlarm: verdict.falseAlarm)
            }
            byHour[verdict.hour, default: Tally()].judge(falseAlarm: verdict.falseAlarm)
            byModel[verdict.model, default: Tally()].judge(falseAlarm: verdict.falseAlarm)
            if verdict.falseAlarm {
                falseAlarmCauses[verdict.cause ?? "(none given)", default: 0] += 1
            }
        }
    }

    /// The charts: the false-alarm rate (whole percent of the judged alerts) per device, label, hour and
    /// model, and the false alarms per cause. Groups with no verdict are left out, except the hours.
    /// The charts' names, in the order a page shows them.
    public static let chartNames = [
        "false-alarms-by-device.svg", "false-alarms-by-label.svg", "false-alarms-by-hour.svg",
        "false-alarms-by-model.svg", "false-alarm-causes.svg",
    ]

    /// The charts, by the names in `chartNames`.
    public var charts: [String: BarChart] {
        func percents(_ table: [String: Tally]) -> [(label: String, value: Int)] {
            table.sorted { $0.key < $1.key }.compactMap { key, tally in
                tally.falseAlarmRate.map { (key, Int(($0 * 100).rounded())) }
            }
        }
        let hours = (0..<24).map { String(format: "%02d", $0) }.map { hour in
            (hour, byHour[hour]?.falseAlarmRate.map { Int(($0 * 100).rounded()) } ?? 0)
        }
        return [
            "false-alarms-by-device.svg": BarChart(
                title: "False alarms per device (% of judged alerts)", xLabel: "device", yLabel: "%",
                bars: percents(byDevice)),
            "false-alarms-by-label.svg": BarChart(
                title: "False alarms per label seen (% of judged alerts)", xLabel: "label", yLabel: "%",
                bars: percents(byLabel)),
            "false-alarms-by-hour.svg": BarChart(
                title: "False alarms per hour of day (customer's time, % of judged alerts)", xLabel: "hour",
                yLabel: "%", bars: hours),
            "false-alarms-by-model.svg": BarChart(
                title: "False alarms per model (% of judged alerts)", xLabel: "model", yLabel: "%",
                bars: percents(byModel)),
            "false-alarm-causes.svg": BarChart(
                title: "What false alarms really were", xLabel: "cause", yLabel: "false alarms",
                bars: falseAlarmCauses.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }),
        ]
    }
}
