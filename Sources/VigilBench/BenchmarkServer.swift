import Logging
import Prometheus
import VigilAccess
import VigilBackends
import VigilPipeline
import VigilServer

extension ServerEnvironment {
    /// The API as `vigil serve` builds it, on any free port, over a benchmark's backends.
    static func benchmark(
        _ backends: Backends, engine: EngineEnvironment, access: any AccessStore, logger: Logger
    ) throws -> ServerEnvironment {
        var configuration = ServerConfiguration()
        configuration.port = 0
        return ServerEnvironment(
            store: backends.store, jobs: engine.jobs, alerts: try backends.alerts(), access: access,
            metrics: PrometheusCollectorRegistry(), configuration: configuration, scratch: engine.scratch,
            logger: logger)
    }
}
