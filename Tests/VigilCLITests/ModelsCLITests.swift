import Foundation
import Testing

extension ProcessTests {
    /// A shadow run with the real detector: the same two photos judged by a detect pipeline at the default
    /// threshold and by a stricter candidate, alerts and verdicts on the first, `vigil models compare`.
    @Suite("vigil models compare")
    struct ModelsCLITests {
        struct Counts: Decodable, Equatable {
            var alertsA, alertsB, gained, lost, falseAlarmsRemoved, falseAlarmsKept, confirmedKept, confirmedLost: Int
        }
        struct Label: Decodable {
            var label: String
            var counts: Counts
        }
        struct Change: Decodable {
            var frame: String
            var change: String
            var verdict: String?
        }
        struct Report: Decodable {
            var frames: Int
            var counts: Counts
            var labels: [Label]
            var changes: [Change]
        }

        static let rules = """
            customers:
              - id: acme
                name: Acme Storage Ltd
                contacts: [{name: Ana Lee, email: ana@acme.example}]
                devices: [cam1]
                dangerous: {person: 0.5, bus: 0.5}
            """

        @Test func aStricterCandidateDropsTheFalseAlarmAndKeepsTheConfirmedAlert() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let vigil = VigilProcess(home: root.appendingPathComponent("home"))
            let alerts = try await JudgedFrames.make(
                vigil, root: root, rules: Self.rules,
                extra: [("detect-strict", JudgedFrames.detect(name: "detect-strict", threshold: "0.8"))])
            #expect(alerts.count == 2)

            // At 0.8 the candidate still sees the bus photo's three people (0.99, 0.91, 0.90) but not its bus
            // (0.76), and nobody in the other frame (0.77): that frame's false alarm goes, the confirmed alert
            // stays, though without its bus.
            let report = try await vigil.json(Report.self, ["models", "compare", "detect", "detect-strict"])
            #expect(report.frames == 2)
            #expect(
                report.counts
                    == Counts(
                        alertsA: 2, alertsB: 1, gained: 0, lost: 1, falseAlarmsRemoved: 1, falseAlarmsKept: 0,
                        confirmedKept: 1, confirmedLost: 0))
            let byLabel = Dictionary(uniqueKeysWithValues: report.labels.map { ($0.label, $0.counts) })
            #expect(
                byLabel["bus"]
                    == Counts(
                        alertsA: 1, alertsB: 0, gained: 0, lost: 1, falseAlarmsRemoved: 0, falseAlarmsKept: 0,
                        confirmedKept: 0, confirmedLost: 1))
            #expect(byLabel["person"] == report.counts)
            #expect(report.changes.map(\.frame) == ["cam1-1700000100.jpg"])
            #expect(report.changes.first?.change == "lost" && report.changes.first?.verdict == "false-alarm")

            let text = try await vigil.run(["models", "compare", "detect", "detect-strict"])
            #expect(text.status == 0 && text.output.contains("lost: cam1-1700000100.jpg"), "\(text.output)")
            #expect(text.output.contains("person           A ████"), "\(text.output)")
            let wrong = try await vigil.run(["models", "compare", "detect", "nowhere"])
            #expect(wrong.status == 1 && wrong.error.contains("[repo-not-found]"), "\(wrong.error)")
        }
    }
}
