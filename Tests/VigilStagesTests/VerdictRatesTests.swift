import Foundation
import Testing
import VigilStages

/// False-alarm rates on known data: every table counted by hand.
@Suite("Verdict rates")
struct VerdictRatesTests {
    static func judged(
        _ falseAlarm: Bool, _ device: String, _ customer: String, _ labels: [String], hour: String = "07",
        model: String = "yolo@aaa", cause: String? = nil
    ) -> VerdictRates.Judged {
        .init(
            falseAlarm: falseAlarm, device: device, customer: customer, labels: labels, hour: hour, model: model,
            cause: cause)
    }

    @Test func ratesAreOverTheJudgedAlertsAndTheShareOverAllAlerts() throws {
        var alerts = AlertCounts.Alerts()
        alerts.total = 10
        alerts.byDevice = ["cam1": 6, "cam2": 4]
        alerts.byCustomer = ["acme": 10]
        alerts.byLabel = ["person": 8, "dog": 3]
        alerts.byLocalHour = ["07": 7, "22": 3]
        alerts.byModel = ["yolo@aaa": 10]
        let rates = VerdictRates(
            alerts: alerts,
            verdicts: [
                Self.judged(true, "cam1", "acme", ["person"], cause: "shadow"),
                Self.judged(true, "cam1", "acme", ["person", "dog"], cause: "shadow"),
                Self.judged(true, "cam2", "acme", ["dog"], hour: "22"),
                Self.judged(false, "cam1", "acme", ["person"]),
            ])
        #expect(rates.total.alerts == 10 && rates.total.judged == 4)
        #expect(rates.total.falseAlarms == 3 && rates.total.confirmed == 1)
        #expect(rates.total.falseAlarmRate == 0.75 && rates.total.confirmedRate == 0.25)
        #expect(rates.total.judgedShare == 0.4)
        let cam1 = try #require(rates.byDevice["cam1"])
        #expect(cam1.alerts == 6 && cam1.judged == 3 && cam1.falseAlarms == 2)
        #expect(rates.byDevice["cam2"]?.falseAlarmRate == 1)
        // An alert with two labels counts under each.
        #expect(rates.byLabel["person"]?.judged == 3 && rates.byLabel["person"]?.falseAlarms == 2)
        #expect(rates.byLabel["dog"]?.judged == 2 && rates.byLabel["dog"]?.falseAlarms == 2)
        #expect(rates.byHour["07"]?.judged == 3 && rates.byHour["22"]?.falseAlarms == 1)
        #expect(rates.byModel["yolo@aaa"]?.judgedShare == 0.4)
        #expect(rates.falseAlarmCauses == ["shadow": 2, "(none given)": 1])

        // The charts: whole percents of the judged alerts; groups without a verdict are left out.
        let byDevice = try #require(rates.charts["false-alarms-by-device.svg"])
        #expect(byDevice.bars.map(\.label) == ["cam1", "cam2"] && byDevice.bars.map(\.value) == [67, 100])
        let byHour = try #require(rates.charts["false-alarms-by-hour.svg"])
        #expect(byHour.bars.count == 24 && byHour.bars[7].value == 67 && byHour.bars[22].value == 100)

        // In JSON the rates come with the counts, and are left out where undefined.
        let json = try JSONSerialization.jsonObject(with: try JSONEncoder().encode(rates)) as? [String: Any]
        let total = try #require(json?["total"] as? [String: Any])
        #expect(total["falseAlarmRate"] as? Double == 0.75 && total["judgedShare"] as? Double == 0.4)
        let none =
            try JSONSerialization.jsonObject(with: try JSONEncoder().encode(VerdictRates.Tally())) as? [String: Any]
        #expect(none?["falseAlarmRate"] == nil && none?["alerts"] as? Int == 0)
        #expect(try JSONDecoder().decode(VerdictRates.self, from: try JSONEncoder().encode(rates)) == rates)
    }

    /// Counts written before the verdicts' tables existed still read.
    @Test func olderCountsReadWithEmptyNewTables() throws {
        let old =
            #"{"alerts": {"total": 1, "byDevice": {"cam1": 1}, "byCustomer": {}, "byDay": {}, "byHour": {}, "#
            + #""byLabel": {}}, "invalid": {"total": 0, "byDevice": {}, "byReason": {}, "byDeviceAndReason": {}}, "#
            + #""sources": []}"#
        let counts = try JSONDecoder().decode(AlertCounts.self, from: Data(old.utf8))
        #expect(counts.alerts.total == 1 && counts.alerts.byModel.isEmpty && counts.verdicts == nil)
    }

    @Test func everyChartIsNamedInTheOrderPagesShowThem() {
        #expect(Set(VerdictRates().charts.keys) == Set(VerdictRates.chartNames))
        #expect(VerdictRates.chartNames.count == Set(VerdictRates.chartNames).count)
    }
}
