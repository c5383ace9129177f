import Foundation
import Hummingbird
import NIOCore
import VigilAccess
import VigilAlerts
import VigilStore
import VigilVision

/// `GET /v1/alerts` (filter by device, customer, state and image time; a customer sees only its own) and
/// `POST /v1/alerts/{id}/ack` (the acknowledge endpoint: nobody else is told).
struct AlertRoutes {
    let environment: ServerEnvironment
    let tenants: TenantScope

    struct Alerts: ResponseEncodable {
        var alerts: [AlertInfo]
    }

    func add(to router: Router<VigilRequestContext>) {
        router.get("/v1/alerts") { request, context in try await list(request, context: context) }
        router.post("/v1/alerts/:id/ack") { request, context in try await acknowledge(request, context: context) }
        router.get("/v1/alerts/:id/thumbnail.jpg") { _, context in try await thumbnail(context: context) }
    }

    func list(_ request: Request, context: VigilRequestContext) async throws -> Alerts {
        let principal = try context.require([.admin, .operator, .customer], to: "read alerts")
        let query = request.uri.queryParameters
        var filter = AlertFilter(limit: try PageLimit.read(query, default: 100))
        filter.device = query.get("device")
        filter.customer = query.get("customer")
        if principal.role == .customer {
            if let asked = filter.customer, asked != principal.customer {
                throw APIError.forbidden("a customer sees only its own alerts", value: asked)
            }
            filter.customer = principal.customer
        }
        if let state = query.get("state") {
            guard let parsed = AlertInfo.State(rawValue: state) else {
                throw APIError.badRequest(
                    code: "bad-argument",
                    "state must be one of " + AlertInfo.State.allCases.map(\.rawValue).joined(separator: ", "),
                    value: state)
            }
            filter.state = parsed
        }
        filter.from = try Self.time(query.get("since"), name: "since")
        filter.to = try Self.time(query.get("until"), name: "until")
        return Alerts(alerts: try await visible(environment.alerts.alerts(filter), to: principal))
    }

    /// Whether `principal` may see `alert`: a customer only its own, of images from when it owned the device.
    func isVisible(_ alert: AlertInfo, to principal: Principal) async throws -> Bool {
        guard principal.role == .customer else { return true }
        guard alert.customer == principal.customer else { return false }
        return try await !visible([alert], to: principal).isEmpty
    }

    /// `alerts` less those of images from before or after `principal` owned the device (a customer), in order.
    func visible(_ alerts: [AlertInfo], to principal: Principal) async throws -> [AlertInfo] {
        guard principal.role == .customer else { return alerts }
        let visibility = try await tenants.visibility(of: principal)
        return alerts.filter { visibility.mayRead(device: $0.device, at: $0.time) }
    }

    func acknowledge(_ request: Request, context: VigilRequestContext) async throws -> Response {
        let principal = try context.require([.admin, .operator, .customer], to: "acknowledge alerts")
        let id = try context.parameters.require("id")
        let alert: AlertInfo
        do {
            let (found, _) = try await environment.alerts.alert(id)
            if try await !isVisible(found, to: principal) {
                // Someone else's alert does not exist, as far as this customer can tell.
                throw AlertError.notFound(id)
            }
            alert = try await environment.alerts.acknowledge(found.id, by: principal.name, at: Date())
        } catch let error as AlertError {
            throw APIError(
                error.code == .alertNotFound ? .notFound : .conflict, code: error.code.rawValue, error.message,
                value: error.value)
        }
        var response = try alert.response(from: request, context: context)
        response.headers[.vigilTarget] = "alert \(alert.id)"
        return response
    }

    /// A 160-pixel-wide JPEG of the alert's image (the dashboard's list shows these, not the full photos).
    func thumbnail(context: VigilRequestContext) async throws -> Response {
        let principal = try context.require([.admin, .operator, .customer], to: "read alerts")
        let id = try context.parameters.require("id")
        let alert: AlertInfo
        do {
            alert = try await environment.alerts.alert(id).0
        } catch let error as AlertError {
            throw APIError(.notFound, code: error.code.rawValue, error.message, value: error.value)
        }
        if try await !isVisible(alert, to: principal) {
            throw APIError.notFound("no alert '\(id)'")
        }
        guard let hash = BlobHash(hex: alert.record.image.sha256) else {
            throw APIError.notFound("the image of alert \(alert.id) cannot be read", value: alert.id)
        }
        // An erased image has no preview, even one cached before the erasure.
        let image = try Address.parse(alert.record.image.address)
        try await environment.store.checkNotErased(repo: image.repo, path: image.path, hash: hash)
        let made: Data?
        do {
            made = try await environment.thumbnails.jpeg(of: hash) {
                try await environment.store.readFile(repo: image.repo, path: image.path, hash: hash)
            }
        } catch let error as ImageError {
            throw APIError.notFound(
                "the image of alert \(alert.id) cannot be previewed: \(error.message)", value: alert.id)
        }
        guard let jpeg = made else {
            var busy = APIError(
                .serviceUnavailable, code: "busy", "too many previews are being made; try again in a second")
            busy.retryAfter = 1
            throw busy
        }
        var response = Response(
            status: .ok, headers: [.contentType: "image/jpeg", .cacheControl: "private, max-age=86400"],
            body: .init(byteBuffer: ByteBuffer(bytes: jpeg)))
        response.headers[.vigilTarget] = "alert \(alert.id) thumbnail"
        return response
    }

    /// The latest time a query may name: the end of year 9999.
    static let latestSeconds: Int64 = 253_402_300_799

    /// Unix seconds or ISO 8601, from 1970 to the end of year 9999.
    static func time(_ text: String?, name: String) throws -> Int64? {
        guard let text else { return nil }
        if let seconds = AlertFilter.seconds(from: text), (0...latestSeconds).contains(seconds) { return seconds }
        throw APIError.badRequest(
            code: "bad-argument",
            "\(name) takes unix seconds or ISO 8601 (2025-11-22T08:00:00Z), from 1970 to the end of year 9999",
            value: text)
    }
}

extension AlertInfo: ResponseEncodable {}
