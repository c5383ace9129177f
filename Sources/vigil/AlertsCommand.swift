import ArgumentParser
import Foundation
import VigilAccess
import VigilAlerts
import VigilServer
import VigilStore

struct AlertsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alerts", abstract: "List, show, acknowledge, judge and retry the alerts the notifier delivers.",
        subcommands: [List.self, Show.self, Ack.self, Verdict.self, Retry.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Alerts, newest image first.",
            discussion: "States: open, acknowledged, unacknowledged (everyone told, nobody acknowledged), dead.")
        @OptionGroup var store: StoreOptions
        @OptionGroup var output: OutputOptions
        @Option(help: "Only alerts in this state (dead: the dead-letter list).") var state: String?
        @Option(help: "Only this customer's alerts.") var customer: String?
        @Option(help: "Only this device's alerts.") var device: String?
        @Option(help: "Only images taken at or after this time (unix seconds or ISO 8601).") var since: String?
        @Option(help: "Only images taken at or before this time (unix seconds or ISO 8601).") var until: String?
        @Option(help: "At most this many.") var limit = 100

        func run() async throws {
            try await store.withBackends { backends in
                var filter = AlertFilter(customer: customer, device: device, limit: limit)
                if let state {
                    guard let parsed = AlertInfo.State(rawValue: state) else {
                        throw ValidationError(
                            "--state must be one of \(AlertInfo.State.allCases.map(\.rawValue).joined(separator: ", "))"
                        )
                    }
                    filter.state = parsed
                }
                filter.from = try since.map { try Self.seconds($0, option: "--since") }
                filter.to = try until.map { try Self.seconds($0, option: "--until") }
                let alerts = try await backends.alerts().alerts(filter)
                if output.json { return try Terminal.json(alerts) }
                Terminal.table(
                    ["ALERT", "STATE", "CUSTOMER", "DEVICE", "IMAGE TIME", "LABELS", "TOLD"],
                    alerts.map { alert in
                        [
                            String(alert.id.prefix(12)), alert.state.rawValue, alert.customer, alert.device,
                            alert.record.isoTime, alert.record.labels.map(\.label).joined(separator: ","),
                            "\(alert.level + 1)/\(alert.record.contacts.count)",
                        ]
                    })
            }
        }

        static func seconds(_ text: String, option: String) throws -> Int64 {
            if let seconds = AlertFilter.seconds(from: text) { return seconds }
            throw ValidationError(
                "\(option) takes unix seconds or an ISO 8601 time (2025-11-22T08:00:00Z), not '\(text)'")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One alert: what was seen, who was told, every attempt.")
        @OptionGroup var store: StoreOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The alert id, or a unique prefix (4+ digits).") var alert: String

        struct Shown: Encodable {
            var alert: AlertInfo
            var deliveries: [DeliveryInfo]
        }

        func run() async throws {
            try await store.withBackends { backends in
                let (alert, deliveries) = try await backends.alerts().alert(self.alert)
                if output.json { return try Terminal.json(Shown(alert: alert, deliveries: deliveries)) }
                let record = alert.record
                print("Alert:      \(alert.id)")
                print("State:      \(alert.state.rawValue)")
                print("Customer:   \(record.customerName) (\(record.customer))")
                print("Device:     \(record.device)")
                print("Image time: \(record.isoTime) (local \(record.localTime))")
                print(
                    "Seen:       \(record.labels.map { "\($0.label) \(String(format: "%.2f", $0.confidence))" }.joined(separator: ", "))"
                )
                print("Threat:     \(alert.threat)")
                print("Message:    \(AlertPayload.sentence(record))")
                if let escalateAt = alert.escalateAt {
                    print("Escalates:  \(Terminal.date(escalateAt)) unless acknowledged")
                }
                if let acknowledged = alert.acknowledged {
                    print("Acknowledged: \(Terminal.date(acknowledged)) by \(alert.acknowledgedBy ?? "-")")
                }
                print("")
                Terminal.table(
                    ["LEVEL", "CONTACT", "STATE", "ATTEMPTS", "DELIVERED", "LAST ERROR"],
                    deliveries.map { delivery in
                        [
                            String(delivery.level), delivery.contact, delivery.state.rawValue,
                            String(delivery.attempts),
                            delivery.delivered.map(Terminal.date) ?? "-", delivery.lastError ?? "-",
                        ]
                    })
            }
        }
    }

    struct Ack: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Acknowledge an alert: nobody else is told about it.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "The alert id, or a unique prefix (4+ digits).") var alert: String
        @Option(help: "Who acknowledges (recorded with it).") var by =
            ProcessInfo.processInfo.environment["USER"] ?? "cli"

        func run() async throws {
            try await store.withBackends { backends in
                let alert = try await backends.alerts().acknowledge(
                    self.alert, by: by, at: Date())
                print("acknowledged \(alert.id) by \(by): no further contacts are told")
            }
        }
    }

    struct Verdict: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Say what an alert really was: confirmed, or a false alarm (with what it was).",
            discussion: """
                The verdict is committed to the verdicts repo (the latest stands; the record keeps the ones it \
                replaced) and written to the audit log. Without --confirmed or --false-alarm it prints the \
                verdict that stands.
                """)
        @OptionGroup var store: StoreOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "The alert id, or a unique prefix (4+ digits).") var alert: String
        @Flag(help: "Something the customer wanted to hear about was there.") var confirmed = false
        @Flag(help: "Nothing was: a shadow, a pet, a tree.") var falseAlarm = false
        @Option(help: "What it really was (shadow, cat, tree, courier…).") var label: String?
        @Option(help: "A note kept with the verdict.") var note: String?

        func validate() throws {
            if confirmed && falseAlarm { throw ValidationError("give --confirmed or --false-alarm, not both") }
            if !confirmed && !falseAlarm && (label != nil || note != nil) {
                throw ValidationError("--label and --note go with --confirmed or --false-alarm")
            }
            do {
                try AlertVerdict.check(label: label, note: note)
            } catch let error as VigilError {
                throw ValidationError(error.message)
            }
        }

        func run() async throws {
            try await store.withBackends { backends in
                let found = try await backends.alerts().alert(alert).0
                let book = VerdictBook(store: backends.store, repo: ServerConfiguration().verdictsRepo)
                guard confirmed || falseAlarm else {
                    guard let verdict = try await book.verdict(on: found) else {
                        throw VigilError(
                            .badArgument,
                            "nobody has given a verdict on alert \(found.id) yet; give one with --confirmed or "
                                + "--false-alarm", value: found.id)
                    }
                    return try Self.print(verdict, json: output.json)
                }
                let requester = Terminal.requester("vigil alerts verdict")
                let verdict = try await book.record(
                    confirmed ? .confirmed : .falseAlarm, label: label, note: note, on: found, by: requester)
                try await backends.access().record(
                    AuditEntry(
                        time: verdict.at, tokenID: "-", principal: requester, role: "cli",
                        action: "VERDICT \(verdict.verdict.rawValue)", target: "alert \(found.id)", status: 200,
                        detail: [verdict.label, verdict.note].compactMap { $0 }.joined(separator: ": ")))
                try Self.print(verdict, json: output.json)
            }
        }

        static func print(_ verdict: AlertVerdict, json: Bool) throws {
            if json { return try Terminal.json(verdict) }
            Swift.print(
                "alert \(verdict.alert): \(verdict.verdict.rawValue)" + (verdict.label.map { " (\($0))" } ?? "")
                    + " by \(verdict.by) at \(Terminal.date(verdict.at))"
                    + (verdict.earlier.isEmpty ? "" : "; \(verdict.earlier.count) earlier"))
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take alerts off the dead-letter list: their failed deliveries are tried again, afresh.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "Alert ids or unique prefixes.") var alerts: [String] = []
        @Flag(help: "Every alert on the dead-letter list.") var allDead = false

        func run() async throws {
            try await store.withBackends { backends in
                let database = try backends.alerts()
                var ids = alerts
                if allDead { ids += try await database.alerts(.init(state: .dead, limit: .max)).map(\.id) }
                guard !ids.isEmpty else { throw ValidationError("name the alerts to retry, or pass --all-dead") }
                for id in ids {
                    let alert = try await database.retry(id, at: Date())
                    print("retrying \(alert.id): a running notifier sends it now")
                }
            }
        }
    }
}

enum AlertPrinter {
    /// `12 alerts: 10 open, 1 acknowledged, 1 dead`.
    static func summary(_ counts: [AlertInfo.State: Int]) {
        let total = counts.values.reduce(0, +)
        let parts = AlertInfo.State.allCases.compactMap { state in counts[state].map { "\($0) \(state.rawValue)" } }
        print("\(total) alert\(total == 1 ? "" : "s")\(parts.isEmpty ? "" : ": " + parts.joined(separator: ", "))")
    }
}
