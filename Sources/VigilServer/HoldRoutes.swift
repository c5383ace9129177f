import Foundation
import Hummingbird
import NIOCore
import VigilAlerts
import VigilStages
import VigilStore

/// Legal holds over the API, as `vigil hold` has them: `GET /v1/holds` (admins and operators; `?all=true` with
/// released ones), `POST /v1/holds` and `POST /v1/holds/{id}/release` (admins). Each request is in the audit log
/// with the hold it touched.
struct HoldRoutes {
    let environment: ServerEnvironment

    var book: LegalHoldBook { LegalHoldBook(store: environment.store, repo: environment.configuration.holdsRepo) }

    /// The body of a placing: a device, a customer or an alert, and why. A field given as null is refused.
    struct Placing: Decodable {
        var device: String?
        var customer: String?
        var alert: String?
        var reason: String?

        enum Key: String, CodingKey, CaseIterable { case device, customer, alert, reason }

        init(from decoder: any Decoder) throws {
            let body = try decoder.container(keyedBy: Key.self)
            try body.refuseNulls()
            device = try body.decodeIfPresent(String.self, forKey: .device)
            customer = try body.decodeIfPresent(String.self, forKey: .customer)
            alert = try body.decodeIfPresent(String.self, forKey: .alert)
            reason = try body.decodeIfPresent(String.self, forKey: .reason)
        }
    }

    struct Releasing: Decodable {
        var reason: String
    }

    struct Holds: ResponseEncodable {
        var holds: [LegalHold]
    }

    func add(to router: Router<VigilRequestContext>) {
        router.get("/v1/holds") { request, context in try await list(request, context: context) }
        router.post("/v1/holds") { request, context in try await place(request, context: context) }
        router.post("/v1/holds/:id/release") { request, context in try await release(request, context: context) }
    }

    func list(_ request: Request, context: VigilRequestContext) async throws -> Response {
        _ = try context.require([.admin, .operator], to: "read legal holds")
        let all: Bool
        switch request.uri.queryParameters.get("all") {
        case nil, "false": all = false
        case "true": all = true
        case let other?:
            throw APIError.badRequest(code: "bad-hold", "`all` is true or false", value: other)
        }
        return try Holds(holds: try await all ? book.all() : book.active()).response(from: request, context: context)
    }

    func place(_ request: Request, context: VigilRequestContext) async throws -> Response {
        let principal = try context.require([.admin], to: "place legal holds")
        let asked: Placing
        do {
            asked = try JSONDecoder().decode(
                Placing.self, from: Data(buffer: try await request.body.collect(upTo: 1 << 16)))
        } catch {
            throw APIError.badRequest(
                code: "bad-hold",
                "the body must be JSON: {\"device\": \"cam7\", \"reason\": \"claim 2291\"}, "
                    + "{\"customer\": \"acme\", \"reason\": \"…\"} or {\"alert\": \"ALERT_ID\", \"reason\": \"…\"}, "
                    + "no field null: \(error)")
        }
        let targets: [HoldRequest.Target] =
            [asked.device.map { .device($0) }, asked.customer.map { .customer($0) }, asked.alert.map { .alert($0) }]
            .compactMap { $0 }
        guard targets.count == 1, let target = targets.first else {
            throw APIError.badRequest(code: "bad-hold", "give `device`, `customer` or `alert` (one of them)")
        }
        guard let reason = asked.reason, !reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw APIError.badRequest(code: "bad-hold", "a hold needs a `reason`: the claim or request, and who asked")
        }
        let placing = HoldRequest(
            target: target, reason: reason, requester: "\(principal.name) (\(principal.role.rawValue))")
        let hold: LegalHold
        do {
            hold = try await placing.place(
                store: environment.store, alerts: environment.alerts, configuration: environment.configuration)
        } catch let error as AlertError {
            throw APIError(.notFound, code: error.code.rawValue, error.message, value: error.value)
        } catch let error as VigilError where error.code == .badArgument {
            throw APIError.badRequest(code: "bad-hold", error.message, value: error.value)
        }
        var response = try hold.response(from: request, context: context)
        response.status = .created
        response.headers[.vigilTarget] = "hold \(hold.id) on \(hold.target)"
        return response
    }

    func release(_ request: Request, context: VigilRequestContext) async throws -> Response {
        let principal = try context.require([.admin], to: "release legal holds")
        let id = try context.parameters.require("id")
        let asked: Releasing
        do {
            asked = try JSONDecoder().decode(
                Releasing.self, from: Data(buffer: try await request.body.collect(upTo: 1 << 16)))
        } catch {
            throw APIError.badRequest(
                code: "bad-hold", "the body must be JSON: {\"reason\": \"claim settled\"}: \(error)")
        }
        let hold = try await book.release(
            id, reason: asked.reason, by: "\(principal.name) (\(principal.role.rawValue))")
        var response = try hold.response(from: request, context: context)
        response.headers[.vigilTarget] = "hold \(hold.id) on \(hold.target) released"
        return response
    }
}

extension LegalHold: ResponseEncodable {}
