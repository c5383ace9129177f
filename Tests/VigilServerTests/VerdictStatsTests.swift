import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing
import VigilAlerts
import VigilServer

/// False-alarm rates over the API and on the dashboard match a recount from the verdict records.
@Suite("False-alarm rates from verdicts")
struct VerdictStatsTests {
    @Test func theStatsAndTheDashboardCountTheVerdictRecordsAndACustomerOnlyItsOwn() async throws {
        let fixture = try await ServerFixture()
        defer { fixture.remove() }
        let environment = fixture.environment
        let book = VerdictBook(store: environment.store, repo: environment.configuration.verdictsRepo)
        let acme = try await environment.alerts.alert(try #require(fixture.alertIDs["acme"])).0
        let smiths = try await environment.alerts.alert(try #require(fixture.alertIDs["smiths"])).0
        _ = try await book.record(.confirmed, label: nil, note: nil, on: acme, by: "ops (operator)")
        _ = try await book.record(.falseAlarm, label: "shadow", note: nil, on: acme, by: "acme (customer)")
        _ = try await book.record(.confirmed, label: "courier", note: nil, on: smiths, by: "ops (operator)")

        try await fixture.test { client in
            for (who, customer) in [("admin", nil), ("acme", "acme"), ("smiths", "smiths")] as [(String, String?)] {
                let stats = try await client.execute(uri: "/v1/stats", method: .get, headers: fixture.headers(who))
                let verdicts = try #require(stats.json["verdicts"] as? [String: Any], "\(who)")
                // The recount: the records that stand, of what this caller may see.
                let records = try await book.all(customer: customer)
                let total = try #require(verdicts["total"] as? [String: Any])
                #expect(total["judged"] as? Int == records.count, "\(who)")
                #expect(total["falseAlarms"] as? Int == records.filter { $0.verdict == .falseAlarm }.count, "\(who)")
                #expect(total["confirmed"] as? Int == records.filter { $0.verdict == .confirmed }.count, "\(who)")
                let byDevice = try #require(verdicts["byDevice"] as? [String: [String: Any]])
                #expect(Set(byDevice.keys) == Set(records.map(\.device)), "\(who)")
                for record in records {
                    let tally = try #require(byDevice[record.device])
                    #expect(tally["falseAlarmRate"] as? Double == (record.verdict == .falseAlarm ? 1 : 0), "\(who)")
                    #expect(tally["judgedShare"] as? Double == 1, "\(who)")
                }
            }
            let page = String(
                buffer: try await client.execute(uri: "/", method: .get, headers: fixture.headers("admin")).body)
            #expect(page.contains("False alarms: 1 of 2 judged alerts (50.0%)"))
            #expect(page.contains("data-chart=\"false-alarms-by-device.svg\""))
            #expect(page.contains("data-chart=\"false-alarm-causes.svg\""))
            let chart = try await client.execute(
                uri: "/v1/stats/false-alarms-by-device.svg", method: .get, headers: fixture.headers("acme"))
            #expect(chart.status == .ok && String(buffer: chart.body).contains("frontdoor"))
            #expect(!String(buffer: chart.body).contains("garage"))
        }
    }
}
