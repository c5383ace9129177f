import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing
import VigilAlerts
import VigilStore

/// `GET /v1/models/compare`: two detect outputs over the same frames, put to the rules, with the verdicts.
@Suite("Comparing models")
struct ModelComparisonTests {
    /// A detection record of the fixture's frame of `device` with one person at `confidence`.
    static func record(device: String, person confidence: Double) -> Data {
        let name = "\(device)-1763800000.jpg"
        return Data(
            """
            {"counts": {"person": 1}, "decodeMs": 1, "detections": [{"confidence": \(confidence), "label": "person",
             "xMax": 20, "xMin": 10, "yMax": 20, "yMin": 10}], "device": "\(device)",
             "image": {"address": "validate@00:/valid/\(name)", "bytes": 512, "height": 480, "name": "\(name)",
                       "sha256": "\(String(repeating: "ab", count: 32))", "width": 640},
             "inferenceMs": 1, "isoTime": "2025-11-22T08:26:40Z",
             "model": {"labels": 80, "name": "yolov4-tiny", "sha256": "\(String(repeating: "cd", count: 32))"},
             "success": true, "time": 1763800000}
            """.utf8)
    }

    @Test func aCandidateThatDropsAFalseAlarmAndKeepsAConfirmedAlertSaysSo() async throws {
        let fixture = try await ServerFixture()
        defer { fixture.remove() }
        let store = fixture.environment.store
        // acme fears a person at 0.6, the Smiths at 0.5. In service both frames alert; the candidate sees the
        // front door's person at 0.55 only (no alert for acme) and the garage's at 0.8.
        for (repo, frontdoor, garage) in [("detect-a", 0.9, 0.7), ("detect-b", 0.55, 0.8)] {
            try await store.createRepo(repo)
            try await ServerFixture.commit(
                [
                    "/frontdoor/frontdoor-1763800000.jpg.json": Self.record(device: "frontdoor", person: frontdoor),
                    "/garage/garage-1763800000.jpg.json": Self.record(device: "garage", person: garage),
                ], to: repo, in: store)
        }
        let book = VerdictBook(store: store, repo: fixture.environment.configuration.verdictsRepo)
        for (customer, verdict) in [("acme", AlertVerdict.Kind.falseAlarm), ("smiths", .confirmed)] {
            let alert = try await fixture.environment.alerts.alert(try #require(fixture.alertIDs[customer])).0
            _ = try await book.record(verdict, label: nil, note: nil, on: alert, by: "ops")
        }

        let (status, data) = try await fixture.test { client in
            try await client.execute(
                uri: "/v1/models/compare?a=detect-a&b=detect-b", method: .get, headers: fixture.headers("operator")
            ) { ($0.status, Data(buffer: $0.body)) }
        }
        #expect(status == .ok, "\(String(decoding: data, as: UTF8.self))")
        let report = try JSONDecoder().decode(ModelComparison.Report.self, from: data)
        #expect(report.frames == 2 && report.onlyA == 0 && report.onlyB == 0)
        var expected = ModelComparison.Counts()
        (expected.alertsA, expected.alertsB, expected.lost) = (2, 1, 1)
        (expected.falseAlarmsRemoved, expected.confirmedKept) = (1, 1)
        #expect(report.counts == expected)
        #expect(report.labels.map(\.label) == ["person"] && report.labels.first?.counts == expected)
        #expect(
            report.changes == [
                .init(
                    frame: "frontdoor-1763800000.jpg", change: "lost", labelsA: ["person"], labelsB: [],
                    verdict: "false-alarm")
            ])
        #expect(report.a.models == ["yolov4-tiny@cdcdcdcdcdcd": 2] && report.b.alerts == 1)

        // Who may ask, and what is refused.
        for (uri, who, expectedStatus) in [
            ("/v1/models/compare?a=detect-a&b=detect-b", "acme", HTTPResponse.Status.forbidden),
            ("/v1/models/compare?a=detect-a", "admin", .badRequest),
            ("/v1/models/compare?a=detect-a&b=no/such", "admin", .badRequest),
            ("/v1/models/compare?a=detect-a&b=nowhere", "admin", .notFound),
            ("/v1/models/compare?a=detect-a&b=threats", "admin", .badRequest),
        ] {
            let answered = try await fixture.test { client in
                try await client.execute(uri: uri, method: .get, headers: fixture.headers(who)) { $0.status }
            }
            #expect(answered == expectedStatus, "\(uri) as \(who)")
        }
    }
}
