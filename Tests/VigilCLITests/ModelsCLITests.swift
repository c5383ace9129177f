import Foundation
import Testing

extension ProcessTests {
    /// A shadow run with the real detector: the same two photos judged by a detect pipeline at the default
    /// threshold and by a stricter candidate, alerts and verdicts on the first, `vigil models compare`.
    @Suite("vigil models compare")
    struct ModelsCLITests {
        struct Alert: Decodable {
            var id: String
            var time: Int64
        }
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

        @Test func aStricterCandidateDropsTheFalseAlarmAndKeepsTheConfirmedAlert() throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let vigil = VigilProcess(home: root.appendingPathComponent("home"))
            try vigil.run(["init"])
            for repo in ["images", "rules"] { #expect(try vigil.run(["repo", "create", repo]).status == 0) }
            let detect = "transform: {stage: detect, options: {intraOpThreads: 1, scoreThreshold: %@}}"
            for (name, text) in [
                ("validate", "name: validate\ninput: {pfs: {repo: images, glob: /*}}\ntransform: {stage: validate}"),
                (
                    "detect",
                    "name: detect\ninput: {pfs: {repo: validate, glob: /valid/*}}\n" + String(format: detect, "0.25")
                ),
                (
                    "detect-strict",
                    "name: detect-strict\ninput: {pfs: {repo: validate, glob: /valid/*}}\n"
                        + String(format: detect, "0.8")
                ),
                (
                    "threats",
                    "name: threats\ninput: {cross: [{pfs: {repo: detect, glob: /*/*}}, {pfs: {repo: rules, glob: /}}]}\n"
                        + "transform: {stage: threats}"
                ),
            ] {
                let spec = root.appendingPathComponent("\(name).yaml")
                try Data(text.utf8).write(to: spec)
                #expect(try vigil.run(["pipeline", "create", spec.path]).status == 0)
            }
            let rules = root.appendingPathComponent("customers.yaml")
            try Data(Self.rules.utf8).write(to: rules)
            #expect(try vigil.run(["put", "rules", rules.path]).status == 0)
            let frames = root.appendingPathComponent("frames")
            try FileManager.default.createDirectory(at: frames, withIntermediateDirectories: true)
            for (photo, name) in [("bus.jpg", "cam1-1700000000.jpg"), ("zidane.jpg", "cam1-1700000100.jpg")] {
                try FileManager.default.copyItem(
                    at: VisionCLITests.samples.appendingPathComponent(photo), to: frames.appendingPathComponent(name))
            }
            #expect(try vigil.run(["put", "images", frames.path]).status == 0)
            #expect(try vigil.run(["engine", "--until-idle"]).status == 0)
            let secret = root.appendingPathComponent("secret")
            try Data("a shared secret of some length".utf8).write(to: secret)
            let sink = try AlertsCLITests.startSink(vigil, root: root, secret: secret)
            defer { sink.stop() }
            let notify = try vigil.run(
                ["notify", "--alert-url", sink.url, "--alert-secret-file", secret.path, "--until-idle"])
            #expect(notify.status == 0, "\(notify.error)")
            let alerts = try vigil.json([Alert].self, ["alerts", "list"]).sorted { $0.time < $1.time }
            try #require(alerts.count == 2)
            // The bus photo's people were real; the other frame was a poster.
            #expect(try vigil.run(["alerts", "verdict", alerts[0].id, "--confirmed"]).status == 0)
            #expect(
                try vigil.run(["alerts", "verdict", alerts[1].id, "--false-alarm", "--label", "poster"]).status == 0)

            // At 0.8 the candidate still sees the bus photo's three people (0.99, 0.91, 0.90) but not its bus
            // (0.76), and nobody in the other frame (0.77): that frame's false alarm goes, the confirmed alert
            // stays, though without its bus.
            let report = try vigil.json(Report.self, ["models", "compare", "detect", "detect-strict"])
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

            let text = try vigil.run(["models", "compare", "detect", "detect-strict"])
            #expect(text.status == 0 && text.output.contains("lost: cam1-1700000100.jpg"), "\(text.output)")
            #expect(text.output.contains("person           A ████"), "\(text.output)")
            let wrong = try vigil.run(["models", "compare", "detect", "nowhere"])
            #expect(wrong.status == 1 && wrong.error.contains("[repo-not-found]"), "\(wrong.error)")
        }
    }
}
