import ArgumentParser
import Foundation
import VigilServer
import VigilStages

/// `vigil retention run`: each customer's retention applied once (`vigil serve` applies it on a schedule).
struct RetentionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retention", abstract: "Apply each customer's retention (the rules' `retention`).",
        subcommands: [Run.self])

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Erase frames and forget alerts past each customer's retention, except what is on hold.",
            discussion: """
                A customer's `retention: {images: 30d, alerts: 365d}` in the rules says how long its data is kept. \
                A frame's age counts from the time in its name, and it belongs to the customer that owned its \
                camera then. Frames past retention are erased with everything made from them, as `vigil erase` \
                does (one erasure, in the audit log); alerts about images past the alert retention are forgotten \
                (their ids stay, so they are never sent again). Frames and alerts under a legal hold stay \
                (`vigil hold`). --dry-run says what would go and changes nothing.
                """)

        @OptionGroup var store: StoreOptions
        @OptionGroup var output: OutputOptions
        @Option(help: "Apply retention as of this time instead of now (unix seconds, or ISO 8601).") var now: String?
        @Flag(help: "Say what would go, and change nothing.") var dryRun = false

        func run() async throws {
            let time = try now.map {
                Date(timeIntervalSince1970: Double(try FrameSelection.seconds($0, field: "--now")))
            }
            try await store.withBackends { backends in
                let runner = RetentionRunner(
                    store: backends.store, alerts: try backends.alerts(), access: try backends.access(),
                    configuration: ServerConfiguration(), logger: store.logger)
                let requester = Terminal.requester("vigil retention run")
                let outcome = try await runner.run(now: time ?? Date(), dryRun: dryRun, requester: requester)
                if output.json { return try Terminal.json(outcome) }
                if outcome.customers.isEmpty {
                    print("no customer has a retention in the rules: nothing to do")
                    return
                }
                Terminal.table(
                    ["CUSTOMER", "IMAGES BEFORE", "FILES", "ALERTS BEFORE", "ALERTS", "ALERTS KEPT"],
                    outcome.customers.map {
                        [
                            $0.customer, $0.imagesBefore.map(Self.time) ?? "kept", "\($0.files)",
                            $0.alertsBefore.map(Self.time) ?? "kept", "\($0.alertsForgotten)", "\($0.alertsKept)",
                        ]
                    })
                print(
                    (dryRun ? "would erase " : "erased ") + "\(outcome.files) files (\(Terminal.bytes(outcome.bytes)))"
                        + (dryRun ? " and forget " : " and forgot ") + "\(outcome.alertsForgotten) alerts; "
                        + "\(outcome.activeHolds) legal holds in force"
                        + (outcome.erasure.map { "; erasure \($0.id)" } ?? ""))
            }
        }

        static func time(_ seconds: Int64) -> String {
            Terminal.date(Date(timeIntervalSince1970: Double(seconds)))
        }
    }
}
