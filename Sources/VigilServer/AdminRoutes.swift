import Foundation
import Hummingbird
import NIOCore
import VigilAccess

/// `/healthz`, `/openapi.yaml` (public), `/metrics` (Prometheus text; admins and operators) and `/v1/audit`
/// (admins).
struct AdminRoutes {
    let environment: ServerEnvironment

    struct Audit: ResponseEncodable {
        var entries: [AuditEntry]
    }

    func add(to router: Router<VigilRequestContext>) {
        router.get("/healthz") { _, _ in ["status": "ok"] }
        router.get("/openapi.yaml") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/yaml"],
                body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.yaml)))
        }
        router.get("/metrics") { _, context in
            _ = try context.require([.admin, .operator], to: "read metrics")
            var buffer: [UInt8] = []
            environment.metrics.emit(into: &buffer)
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(bytes: buffer)))
        }
        router.get("/v1/audit") { request, context in
            _ = try context.require([.admin], to: "read the audit log")
            let query = request.uri.queryParameters
            let since = try AlertRoutes.time(query.get("since"), name: "since").map {
                Date(timeIntervalSince1970: TimeInterval($0))
            }
            return Audit(
                entries: try environment.access.audit(
                    token: query.get("token"), since: since, limit: min(1_000, query.get("limit", as: Int.self) ?? 100))
            )
        }
    }
}

extension AuditEntry: ResponseEncodable {}
