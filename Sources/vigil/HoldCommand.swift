import ArgumentParser
import Foundation
import VigilAccess
import VigilServer
import VigilStages

/// `vigil hold`: legal holds, which keep a device's frames or one alert's evidence past retention and erasure.
struct HoldCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hold", abstract: "Place, release and list legal holds (evidence kept past retention).",
        discussion: """
            A hold on a device keeps all its frames, and everything made from them, and its alerts; a hold on a \
            customer keeps the frames of every camera it owned, from the times it owned them, and its alerts; a \
            hold on an alert keeps that alert and its frame. Held data is neither erased by retention nor by `vigil erase`. \
            Holds are versioned records: a released hold stays on record, with who released it, when and why. \
            Placing and releasing are in the audit log.
            """,
        subcommands: [Place.self, Release.self, List.self])

    static var requester: String { Terminal.requester("vigil hold") }

    struct Place: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Keep a device's frames, a customer's, or an alert's, until released.")
        @OptionGroup var store: StoreOptions
        @Option(help: "Hold every frame of this camera.") var device: String?
        @Option(help: "Hold every frame and alert of this customer (its cameras while it owned them).")
        var customer: String?
        @Option(help: "Hold this alert (its id, or a unique prefix) and its frame.") var alert: String?
        @Option(help: "Why: the claim or request, and who asked.") var reason: String

        func validate() throws {
            guard [device, customer, alert].compactMap({ $0 }).count == 1 else {
                throw ValidationError("give --device ID, --customer ID or --alert ID (one of them)")
            }
            if let device, !ImageName.isValidDevice(device) {
                throw ValidationError(
                    "'\(device)' is not a device id: 1-64 letters, digits, '_' or '.' (docs/CONTRACT.md)")
            }
        }

        func run() async throws {
            try await store.withBackends { backends in
                let target: HoldRequest.Target =
                    if let alert { .alert(alert) } else if let customer { .customer(customer) } else {
                        .device(device ?? "")
                    }
                let hold = try await HoldRequest(target: target, reason: reason, requester: HoldCommand.requester)
                    .place(store: backends.store, alerts: try backends.alerts(), configuration: ServerConfiguration())
                try await backends.access().record(
                    AuditEntry(
                        time: hold.placed, tokenID: "-", principal: HoldCommand.requester, role: "cli",
                        action: "HOLD \(hold.target)", target: "hold \(hold.id)", status: 200, detail: reason))
                print("hold \(hold.id) placed on \(hold.target)")
            }
        }
    }

    struct Release: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Release a hold: retention and erasure apply to what it kept again.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "The hold's id (or a unique prefix).") var id: String
        @Option(help: "Why: the claim settled, the request withdrawn.") var reason: String

        func run() async throws {
            try await store.withBackends { backends in
                let book = LegalHoldBook(store: backends.store, repo: ServerConfiguration().holdsRepo)
                let hold = try await book.release(id, reason: reason, by: HoldCommand.requester)
                try await backends.access().record(
                    AuditEntry(
                        time: hold.released ?? Date(), tokenID: "-", principal: HoldCommand.requester, role: "cli",
                        action: "RELEASE HOLD \(hold.target)", target: "hold \(hold.id)", status: 200, detail: reason))
                print("hold \(hold.id) on \(hold.target) released")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The holds in force (with --all, released ones too).")
        @OptionGroup var store: StoreOptions
        @OptionGroup var output: OutputOptions
        @Flag(help: "Released holds too.") var all = false

        func run() async throws {
            try await store.withBackends { backends in
                let book = LegalHoldBook(store: backends.store, repo: ServerConfiguration().holdsRepo)
                let holds = try await all ? book.all() : book.active()
                if output.json { return try Terminal.json(holds) }
                Terminal.table(
                    ["HOLD", "ON", "PLACED", "BY", "REASON", "RELEASED"],
                    holds.map { hold in
                        [
                            hold.id, hold.target, Terminal.date(hold.placed), hold.placedBy, hold.reason,
                            hold.released.map {
                                "\(Terminal.date($0)) by \(hold.releasedBy ?? "?"): \(hold.releaseReason ?? "")"
                            }
                                ?? "",
                        ]
                    })
            }
        }
    }
}
