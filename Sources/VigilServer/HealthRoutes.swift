import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import VigilStore

/// Probes for a scheduler: `GET /healthz` answers while the process runs (liveness: a failure restarts it),
/// `GET /readyz` only while its database and blob store answer a read (readiness: a failure takes it out of
/// service until they are back, without a restart). `vigil serve` has both among its routes; a process that
/// serves nothing else (`vigil worker`, `vigil notify`, `vigil engine`) runs them alone with `--health-port`.
public enum HealthRoutes {
    /// 200 with the checks when ready, else 503 with the same body.
    static func readiness(_ store: VersionedStore) async throws -> Response {
        let readiness = await Readiness.check(store)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        struct Body: Encodable {
            var status: String
            var checks: [Readiness.Check]
        }
        let body = try encoder.encode(Body(status: readiness.ready ? "ready" : "not ready", checks: readiness.checks))
        return Response(
            status: readiness.ready ? .ok : .serviceUnavailable, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// The two probes alone, on `host:port`, as a service of the process's group; `onRunning` is told the port.
    public static func server(
        host: String, port: Int, store: VersionedStore, logger: Logger,
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> any Service {
        let router = Router()
        router.get("/healthz") { _, _ in ["status": "ok"] }
        router.get("/readyz") { _, _ in try await readiness(store) }
        return Application(
            router: router, configuration: .init(address: .hostname(host, port: port), serverName: "vigil"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) }, logger: logger)
    }
}
