import Foundation
import Hummingbird
import Logging
import VigilStages
import VigilStore

/// The HTTP API's router: every route behind `AccessMiddleware`. Built as a function of its environment so
/// tests drive it in-process (`app.test(.router)`) exactly as `vigil serve` runs it.
public enum VigilAPI {
    public static func router(_ environment: ServerEnvironment) -> Router<VigilRequestContext> {
        let router = Router(context: VigilRequestContext.self)
        // A span per request (continuing a caller's `traceparent`), only when a tracer is bootstrapped.
        if TraceHeaders.isTracing { router.add(middleware: TracingMiddleware()) }
        router.add(
            middleware: AccessMiddleware(
                access: environment.access, throttle: environment.throttle, logger: environment.logger))
        let routes = MethodCheck.Routes()
        router.add(middleware: MethodCheck(routes: routes))
        router.add(middleware: ErrorMapping(logger: environment.logger))
        let tenants = TenantScope(
            rules: RuleHistory(store: environment.store, repo: environment.configuration.rulesRepo))
        AdminRoutes(environment: environment).add(to: router)
        ImageRoutes(environment: environment).add(to: router)
        let alerts = AlertRoutes(environment: environment, tenants: tenants)
        alerts.add(to: router)
        let verdicts = VerdictRoutes(environment: environment, alerts: alerts)
        verdicts.add(to: router)
        DataRoutes(environment: environment, tenants: tenants).add(to: router)
        ErasureRoutes(environment: environment).add(to: router)
        HoldRoutes(environment: environment).add(to: router)
        ModelRoutes(environment: environment).add(to: router)
        let stats = StatsRoutes(environment: environment, tenants: tenants)
        stats.add(to: router)
        let pipelines = PipelineRoutes(environment: environment)
        pipelines.add(to: router)
        LineageRoutes(environment: environment, tenants: tenants).add(to: router)
        DashboardRoutes(
            environment: environment, stats: stats, pipelines: pipelines, alerts: alerts, verdicts: verdicts
        ).add(to: router)
        routes.set(router.routes)
        return router
    }

    /// The server on the configured address; `onRunning` is told the port (useful with port 0).
    public static func application(
        _ environment: ServerEnvironment, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let configuration = environment.configuration
        return Application(
            router: router(environment),
            server: .http1(configuration: .init(idleTimeout: .nanoseconds(Int64(configuration.idleTimeout * 1e9)))),
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port), serverName: "vigil",
                backlog: 1_024,
                availableConnectionsDelegate: .maximum(configuration.maxConnections, logger: environment.logger)),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? configuration.port) },
            logger: environment.logger)
    }
}
