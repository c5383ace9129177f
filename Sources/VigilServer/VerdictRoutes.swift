import Foundation
import Hummingbird
import NIOCore
import VigilAccess
import VigilAlerts
import VigilStore

/// Verdicts on alerts: `POST /v1/alerts/{id}/verdict` (`{"verdict": "false-alarm", "label": "shadow", "note":
/// "…"}`) records or changes one, `GET /v1/alerts/{id}/verdict` reads the one that stands. Admins, operators,
/// and a customer on its own alerts (another's is not found, as for every alert route). Each verdict given is in
/// the audit log with its alert.
struct VerdictRoutes {
    let environment: ServerEnvironment
    let alerts: AlertRoutes

    var book: VerdictBook { VerdictBook(store: environment.store, repo: environment.configuration.verdictsRepo) }

    /// The body of a verdict: unknown fields and nulls are refused, so a misspelt field is not silently lost.
    struct Given: Decodable {
        var verdict: AlertVerdict.Kind
        var label: String?
        var note: String?

        enum Key: String, CodingKey, CaseIterable { case verdict, label, note }

        init(from decoder: any Decoder) throws {
            let body = try decoder.container(keyedBy: Key.self)
            try body.refuseNulls()
            let known = Set(Key.allCases.map(\.stringValue))
            let all = try decoder.container(keyedBy: AnyKey.self)
            if let unknown = all.allKeys.first(where: { !known.contains($0.stringValue) }) {
                throw DecodingError.dataCorrupted(
                    .init(codingPath: [unknown], debugDescription: "unknown field `\(unknown.stringValue)`"))
            }
            verdict = try body.decode(AlertVerdict.Kind.self, forKey: .verdict)
            label = try body.decodeIfPresent(String.self, forKey: .label)
            note = try body.decodeIfPresent(String.self, forKey: .note)
        }
    }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    func add(to router: Router<VigilRequestContext>) {
        router.post("/v1/alerts/:id/verdict") { request, context in try await give(request, context: context) }
        router.get("/v1/alerts/:id/verdict") { request, context in try await read(request, context: context) }
    }

    /// The alert the request's `id` names, if its caller may see it; otherwise not found.
    private func alert(_ context: VigilRequestContext, to action: String) async throws -> (AlertInfo, Principal) {
        let principal = try context.require([.admin, .operator, .customer], to: action)
        return (try await alert(try context.parameters.require("id"), to: principal), principal)
    }

    /// The alert `id` names (or a unique prefix of it), if `principal` may see it; otherwise not found.
    func alert(_ id: String, to principal: Principal) async throws -> AlertInfo {
        let alert: AlertInfo
        do {
            alert = try await environment.alerts.alert(id).0
        } catch let error as AlertError {
            throw APIError(.notFound, code: error.code.rawValue, error.message, value: error.value)
        }
        // Someone else's alert does not exist, as far as this customer can tell.
        guard try await alerts.isVisible(alert, to: principal) else {
            throw APIError(.notFound, code: AlertError.Code.alertNotFound.rawValue, "no alert '\(id)'", value: id)
        }
        return alert
    }

    /// Records `principal`'s verdict on `alert`; the answer's `Vigil-Target` for the audit log comes with it.
    func record(
        _ kind: AlertVerdict.Kind, label: String?, note: String?, on alert: AlertInfo, by principal: Principal
    ) async throws -> (AlertVerdict, target: String) {
        let verdict = try await book.record(
            kind, label: label, note: note, on: alert, by: "\(principal.name) (\(principal.role.rawValue))")
        return (
            verdict,
            "verdict on alert \(alert.id): \(verdict.verdict.rawValue)" + (verdict.label.map { " (\($0))" } ?? "")
        )
    }

    func give(_ request: Request, context: VigilRequestContext) async throws -> Response {
        let (alert, principal) = try await alert(context, to: "give verdicts on alerts")
        let given: Given
        do {
            given = try JSONDecoder().decode(
                Given.self, from: Data(buffer: try await request.body.collect(upTo: 1 << 16)))
        } catch {
            throw APIError.badRequest(
                code: VigilError.Code.badVerdict.rawValue,
                "the body must be JSON: {\"verdict\": \"false-alarm\", \"label\": \"shadow\", \"note\": \"…\"} "
                    + "(verdict: confirmed or false-alarm; label and note optional, no field null, no other "
                    + "field): \(error)")
        }
        let (verdict, target) = try await record(
            given.verdict, label: given.label, note: given.note, on: alert, by: principal)
        var response = try verdict.response(from: request, context: context)
        response.headers[.vigilTarget] = target
        return response
    }

    func read(_ request: Request, context: VigilRequestContext) async throws -> Response {
        let (alert, _) = try await alert(context, to: "read alerts")
        guard let verdict = try await book.verdict(on: alert) else {
            throw APIError(
                .notFound, code: "no-verdict",
                "nobody has given a verdict on alert \(alert.id) yet; POST one to /v1/alerts/\(alert.id)/verdict",
                value: alert.id)
        }
        return try verdict.response(from: request, context: context)
    }
}

extension AlertVerdict: ResponseEncodable {}
