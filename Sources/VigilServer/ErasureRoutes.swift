import Foundation
import Hummingbird
import NIOCore
import VigilStages
import VigilStore

/// `POST /v1/erasures` (admins): `vigil erase` over the API. The body names what to erase (`devices`,
/// `customers`, `addresses`, `after`, `before`), why (`reason`) and whether only to list it (`dryRun`); the answer is the
/// erasure with what it took. In the audit log as `POST /v1/erasures` with the erasure's id.
struct ErasureRoutes {
    let environment: ServerEnvironment

    /// The body. A field given as null is refused rather than read as absent: every field has one type.
    struct Asked: Decodable {
        var devices: [String]?
        var customers: [String]?
        var addresses: [String]?
        var after: Int64?
        var before: Int64?
        var reason: String?
        var dryRun: Bool?

        enum Key: String, CodingKey, CaseIterable { case devices, customers, addresses, after, before, reason, dryRun }

        init(from decoder: any Decoder) throws {
            let body = try decoder.container(keyedBy: Key.self)
            try body.refuseNulls()
            devices = try body.decodeIfPresent([String].self, forKey: .devices)
            customers = try body.decodeIfPresent([String].self, forKey: .customers)
            addresses = try body.decodeIfPresent([String].self, forKey: .addresses)
            after = try body.decodeIfPresent(Int64.self, forKey: .after)
            before = try body.decodeIfPresent(Int64.self, forKey: .before)
            reason = try body.decodeIfPresent(String.self, forKey: .reason)
            dryRun = try body.decodeIfPresent(Bool.self, forKey: .dryRun)
        }
    }

    /// An address as the OpenAPI document allows it in an erasure (repo, optional ref, a path of 1 to 8 parts).
    static let addressPattern =
        #"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}(@[A-Za-z0-9][A-Za-z0-9_.-]{0,39}(\^[0-9]{0,3}){0,8})?:(/[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}){1,8}$"#

    func add(to router: Router<VigilRequestContext>) {
        router.post("/v1/erasures") { request, context in try await erase(request, context: context) }
    }

    func erase(_ request: Request, context: VigilRequestContext) async throws -> Response {
        let principal = try context.require([.admin], to: "erase images")
        let body = try await request.body.collect(upTo: 1 << 20)
        let asked: Asked
        do {
            asked = try JSONDecoder().decode(Asked.self, from: Data(buffer: body))
        } catch {
            throw APIError.badRequest(
                code: "bad-erasure",
                "the body must be JSON: {\"devices\": [\"cam1\"], \"customers\": [\"acme\"], \"addresses\": [\"images@master:/cam1-1700000000.jpg\"], "
                    + "\"after\": UNIX_SECONDS, \"before\": UNIX_SECONDS, \"reason\": \"who asked and why\", \"dryRun\": false}, "
                    + "every field but `reason` optional and none null: \(error)")
        }
        guard let reason = asked.reason, !reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw APIError.badRequest(code: "bad-erasure", "an erasure needs a `reason`: who asked, and why")
        }
        for (name, list) in [
            ("devices", asked.devices), ("customers", asked.customers), ("addresses", asked.addresses),
        ]
        where list?.isEmpty == true {
            throw APIError.badRequest(code: "bad-erasure", "`\(name)` is empty: leave it out, or name at least one")
        }
        for address in asked.addresses ?? []
        where address.range(of: Self.addressPattern, options: .regularExpression) == nil {
            throw APIError.badRequest(
                code: "bad-erasure",
                "'\(address)' is not an address here: repo[@ref]:/path, path parts of letters, digits, '_', '.' and '-'",
                value: address)
        }
        for (name, time) in [("after", asked.after), ("before", asked.before)]
        where !(0...AlertRoutes.latestSeconds).contains(time ?? 0) {
            throw APIError.badRequest(
                code: "bad-erasure",
                "`\(name)` must be unix seconds from 0 to \(AlertRoutes.latestSeconds) (the year 9999)")
        }
        let erasure = ErasureRequest(
            frames: FrameSelection(
                devices: asked.devices ?? [], customers: asked.customers ?? [], addresses: asked.addresses ?? [],
                after: asked.after, before: asked.before),
            reason: reason, requester: "\(principal.name) (\(principal.role.rawValue))", dryRun: asked.dryRun == true)
        let (summary, report) = try await erasure.run(
            store: environment.store, alerts: environment.alerts, configuration: environment.configuration)
        if let report { environment.thumbnails.forget(report.plan.entries.map(\.hash)) }
        var response = try summary.response(from: request, context: context)
        response.headers[.vigilTarget] =
            summary.erasure.map { "erasure \($0.id): \(summary.files) files" }
            ?? "erasure dry run: \(summary.files) files"
        return response
    }
}

extension ErasureSummary: ResponseEncodable {}
