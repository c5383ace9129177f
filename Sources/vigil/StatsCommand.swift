import ArgumentParser
import Foundation
import VigilAlerts
import VigilBackends
import VigilServer
import VigilStages
import VigilStore

struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Alert counts per device, customer, day, hour and label; invalid images per device and reason; "
            + "false-alarm rates from the verdicts.",
        discussion: """
            Reads counts.json from the analytics pipeline's output (default repo: stats). The bar charts are beside \
            it: vigil ls stats:/ lists them, vigil cat stats:/by-day.svg > by-day.svg saves one. The false-alarm and \
            confirmed rates per device, customer, label, hour of day (the customer's time) and model are counted \
            from the verdicts repo (`vigil alerts verdict`) against those alerts.
            """)

    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions
    @Option(help: "The analytics pipeline's output: repo[@ref].") var from = "stats"

    func run() async throws {
        try await store.withBackends { backends in
            let vigil = backends.store
            var address = try Address.parse(from)
            address.path = "/counts.json"
            var counts = try JSONDecoder().decode(AlertCounts.self, from: try await vigil.read(address))
            let verdicts = try await VerdictBook(store: vigil, repo: ServerConfiguration().verdictsRepo).all()
            let rates = VerdictRates(alerts: counts.alerts, verdicts: verdicts.map(\.judged))
            counts.verdicts = rates
            if output.json { return try Terminal.json(counts) }
            print(
                "Alerts: \(counts.alerts.total); invalid images: \(counts.invalid.total) (from \(counts.sources.joined(separator: ", ")))"
            )
            for (title, table) in [
                ("alerts per device", counts.alerts.byDevice), ("alerts per customer", counts.alerts.byCustomer),
                ("alerts per day (UTC)", counts.alerts.byDay), ("alerts per hour (UTC)", counts.alerts.byHour),
                ("alerts per label", counts.alerts.byLabel), ("invalid images per device", counts.invalid.byDevice),
                ("invalid images per reason", counts.invalid.byReason),
            ] where !table.isEmpty {
                print("\n\(title):")
                Terminal.table(["KEY", "COUNT"], table.sorted { $0.key < $1.key }.map { [$0.key, String($0.value)] })
            }
            guard rates.total.judged > 0 else {
                return print("\nNo verdicts yet: `vigil alerts verdict ID --false-alarm` records one.")
            }
            print(
                "\nVerdicts: \(rates.total.judged) of \(rates.total.alerts) alerts judged; false alarms "
                    + "\(rates.total.falseAlarms), confirmed \(rates.total.confirmed)")
            for (title, table) in [
                ("verdicts per device", rates.byDevice), ("verdicts per customer", rates.byCustomer),
                ("verdicts per label seen", rates.byLabel), ("verdicts per hour (customer's time)", rates.byHour),
                ("verdicts per model", rates.byModel),
            ] where table.values.contains(where: { $0.judged > 0 }) {
                print("\n\(title):")
                Terminal.table(
                    ["KEY", "ALERTS", "JUDGED", "FALSE ALARMS", "FALSE-ALARM RATE", "CONFIRMED RATE"],
                    table.sorted { $0.key < $1.key }.filter { $0.value.judged > 0 }.map { key, tally in
                        [
                            key, String(tally.alerts), String(tally.judged), String(tally.falseAlarms),
                            VerdictRates.percent(tally.falseAlarmRate), VerdictRates.percent(tally.confirmedRate),
                        ]
                    })
            }
            if !rates.falseAlarmCauses.isEmpty {
                print("\nwhat false alarms really were:")
                Terminal.table(
                    ["CAUSE", "COUNT"],
                    rates.falseAlarmCauses.sorted { $0.key < $1.key }.map { [$0.key, String($0.value)] })
            }
        }
    }
}
