import ArgumentParser
import Foundation
import VigilAlerts
import VigilServer
import VigilStore

/// `vigil models compare A B`: a shadow run's report.
struct ModelsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models", abstract: "Compare what two detect pipelines' models would alert on.",
        subcommands: [Compare.self])

    struct Compare: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "How alerts would change if detect repo B's records replaced A's.",
            discussion: """
                Run a candidate model (or other settings) as a second detect pipeline over the same frames (a \
                shadow run: `modelInput` on a candidate model folder or branch, docs/MODEL.md), then compare its \
                output with the one in service: every frame both judged is put to the customers' current rules \
                with each side's detections, as the threats stage would. The report counts alerts gained and \
                lost, and for frames people judged, false alarms removed and kept and confirmed alerts kept and \
                lost, over all and per label. Nothing is written. The same as GET /v1/models/compare?a=A&b=B.
                """)
        @OptionGroup var store: StoreOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The detect pipeline's output in service: repo[@ref] (e.g. detect).") var a: String
        @Argument(help: "The candidate's output: repo[@ref] (e.g. detect-candidate).") var b: String

        func run() async throws {
            try await store.withBackends { backends in
                let configuration = ServerConfiguration()
                let report = try await ModelComparison(
                    store: backends.store,
                    verdicts: VerdictBook(store: backends.store, repo: configuration.verdictsRepo),
                    rulesRepo: configuration.rulesRepo
                ).compare(a, b)
                if output.json { return try Terminal.json(report) }
                for (name, side) in [("A", report.a), ("B", report.b)] {
                    let models = side.models.sorted { $0.key < $1.key }.map { "\($0.key) ×\($0.value)" }
                    print(
                        "\(name): \(side.repo)@\(side.commit), \(side.frames) frames, "
                            + "\(models.joined(separator: ", "))")
                }
                print(
                    "\(report.frames) frames judged by both (\(report.onlyA) only by A, \(report.onlyB) only by B), "
                        + "rules \(report.rules)")
                let rows =
                    [("all labels", report.counts)] + report.labels.map { ($0.label, $0.counts) }
                Terminal.table(
                    [
                        "", "ALERTS A", "ALERTS B", "GAINED", "LOST", "FALSE ALARMS REMOVED", "FALSE ALARMS KEPT",
                        "CONFIRMED KEPT", "CONFIRMED LOST",
                    ],
                    rows.map { name, counts in
                        [name]
                            + [
                                counts.alertsA, counts.alertsB, counts.gained, counts.lost, counts.falseAlarmsRemoved,
                                counts.falseAlarmsKept, counts.confirmedKept, counts.confirmedLost,
                            ].map(String.init)
                    })
                // The change drawn: alerts per label, A against B.
                let widest = max(1, rows.map { max($0.1.alertsA, $0.1.alertsB) }.max() ?? 1)
                for (name, counts) in rows.dropFirst() {
                    for (side, value) in [("A", counts.alertsA), ("B", counts.alertsB)] {
                        let bar = String(repeating: "█", count: Int((Double(value) / Double(widest) * 40).rounded()))
                        print("\(name.padding(toLength: 16, withPad: " ", startingAt: 0)) \(side) \(bar) \(value)")
                    }
                }
                for change in report.changes.prefix(50) {
                    print(
                        "\(change.change): \(change.frame) (A: \(Self.labels(change.labelsA)); "
                            + "B: \(Self.labels(change.labelsB))"
                            + (change.verdict.map { "; judged \($0)" } ?? "") + ")")
                }
                if report.changes.count > 50 { print("… and \(report.changes.count - 50) more changes") }
            }
        }

        static func labels(_ labels: [String]) -> String {
            labels.isEmpty ? "no alert" : labels.joined(separator: ", ")
        }
    }
}
