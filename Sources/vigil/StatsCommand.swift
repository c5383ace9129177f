import ArgumentParser
import Foundation
import VigilBackends
import VigilStages
import VigilStore

struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Alert counts per device, customer, day, hour and label; invalid images per device and reason.",
        discussion: """
            Reads counts.json from the analytics pipeline's output (default repo: stats). The bar charts are beside \
            it: vigil ls stats:/ lists them, vigil cat stats:/by-day.svg > by-day.svg saves one.
            """)

    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions
    @Option(help: "The analytics pipeline's output: repo[@ref].") var from = "stats"

    func run() async throws {
        try await store.withBackends { backends in
            let vigil = backends.store
            var address = try Address.parse(from)
            address.path = "/counts.json"
            let counts = try JSONDecoder().decode(AlertCounts.self, from: try await vigil.read(address))
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
        }
    }
}
