import ArgumentParser
import Foundation
import VigilAccess

struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Create, list and revoke the HTTP API's tokens.",
        discussion: """
            Roles: admin (everything), operator (pipelines, all data, alerts, stats), customer (only its own \
            devices' images, detections, alerts and stats), device (only uploading images named with its own \
            device id). A token is shown once, when created; only its hash is kept (access.sqlite).
            """,
        subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make a token and print it (once).")
        @OptionGroup var store: StoreOptions
        @Option(help: "admin, operator, customer or device.") var role: String
        @Option(help: "For a customer token: the customer id of the rules.") var customer: String?
        @Option(help: "For a device token: the device id.") var device: String?
        @Option(help: "Who or what holds it (shown in the audit log).") var name: String?
        @Option(
            help: ArgumentHelp(
                "How long it works: 90d, 12h, 30m, 45s (default: until revoked).", valueName: "duration"))
        var expiresIn: DurationArgument?

        func run() async throws {
            try await store.withBackends { backends in
                guard let role = Role(rawValue: role) else {
                    throw ValidationError(
                        "--role must be one of \(Role.allCases.map(\.rawValue).joined(separator: ", ")), not '\(self.role)'"
                    )
                }
                let access = try backends.access()
                let now = Date()
                let (token, info) = try await access.createToken(
                    name: name ?? customer ?? device ?? role.rawValue, role: role, customer: customer, device: device,
                    expires: expiresIn.map { now.addingTimeInterval($0.seconds) }, at: now)
                print(token)
                Terminal.standardError(
                    "token \(info.id) (\(info.role.rawValue)\(info.customer.map { " of \($0)" } ?? "")"
                        + "\(info.device.map { " for \($0)" } ?? "")"
                        + "\(info.expires.map { ", until \(Terminal.date($0))" } ?? "")): keep it; it is not shown again"
                )
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Tokens (never their secrets).")
        @OptionGroup var store: StoreOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await store.withBackends { backends in
                let tokens = try await backends.access().tokens()
                if output.json { return try Terminal.json(tokens) }
                Terminal.table(
                    ["TOKEN", "NAME", "ROLE", "CUSTOMER", "DEVICE", "CREATED", "EXPIRES", "REVOKED"],
                    tokens.map {
                        [
                            $0.id, $0.name, $0.role.rawValue, $0.customer ?? "-", $0.device ?? "-",
                            Terminal.date($0.created), $0.expires.map(Terminal.date) ?? "-",
                            $0.revoked.map(Terminal.date) ?? "-",
                        ]
                    })
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token: it stops working at once.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "The token's id (the part after vgl_, as `vigil token list` shows).") var id: String

        func run() async throws {
            try await store.withBackends { backends in
                try await backends.access().revoke(id, at: Date())
                print("revoked \(id)")
            }
        }
    }
}

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "The HTTP API's audit log: who did what, when, and how it ended.")
    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions
    @Option(help: "Only this token id's entries.") var token: String?
    @Option(help: "At most this many, newest first.") var limit = 100

    func run() async throws {
        try await store.withBackends { backends in
            let entries = try await backends.access().audit(token: token, limit: limit)
            if output.json { return try Terminal.json(entries) }
            Terminal.table(
                ["TIME", "TOKEN", "WHO", "ROLE", "STATUS", "ACTION", "TARGET"],
                entries.map {
                    [
                        Terminal.date($0.time), $0.tokenID, $0.principal, $0.role, String($0.status), $0.action,
                        $0.target ?? $0.detail ?? "-",
                    ]
                })
        }
    }
}
