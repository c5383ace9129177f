import Foundation
import Hummingbird
import NIOCore
import VigilAccess

/// `/healthz` (liveness), `/readyz` (the database and blob store answer), `/openapi.yaml` (public), `/metrics` (Prometheus text; admins and operators) and `/v1/audit`
/// (admins).
struct AdminRoutes {
    let environment: ServerEnvironment

    struct Audit: ResponseEncodable {
        var entries: [AuditEntry]
    }

    /// What waits on a later try, read from the durable state at each scrape (counters cannot say it): each
    /// pipeline's failed datums, retried on a schedule, and the alerts on the dead-letter list.
    static func backlog(_ environment: ServerEnvironment) async throws -> String {
        var text = "# HELP vigil_pipeline_failed_datums Datums that failed in the pipeline's last job.\n"
        text += "# TYPE vigil_pipeline_failed_datums gauge\n"
        for pipeline in try await environment.jobs.pipelines() {
            let failed = try await environment.jobs.jobs(pipeline: pipeline.name, limit: 1).first?.counts.failed ?? 0
            text += "vigil_pipeline_failed_datums{pipeline=\"\(pipeline.name)\"} \(failed)\n"
        }
        text += "# HELP vigil_alerts_dead Alerts on the dead-letter list.\n# TYPE vigil_alerts_dead gauge\n"
        return text + "vigil_alerts_dead \(try await environment.alerts.counts()[.dead] ?? 0)\n"
    }

    func add(to router: Router<VigilRequestContext>) {
        router.get("/healthz") { _, _ in ["status": "ok"] }
        router.get("/readyz") { _, _ in try await HealthRoutes.readiness(environment.store) }
        router.get("/openapi.yaml") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/yaml"],
                body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.yaml)))
        }
        router.get("/metrics") { _, context in
            _ = try context.require([.admin, .operator], to: "read metrics")
            var buffer: [UInt8] = []
            environment.metrics.emit(into: &buffer)
            buffer += Array(try await Self.backlog(environment).utf8)
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
                entries: try await environment.access.audit(
                    token: query.get("token"), since: since, limit: try PageLimit.read(query, default: 100))
            )
        }
    }
}

extension AuditEntry: ResponseEncodable {}
