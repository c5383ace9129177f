import ArgumentParser
import Logging
import ServiceLifecycle
import VigilServer
import VigilStore

/// `--health-port`: the liveness and readiness probes (`/healthz`, `/readyz`) of a process that serves no API,
/// for a scheduler such as Kubernetes (deploy/kubernetes). Off when not given.
struct HealthOptions: ParsableArguments {
    @Option(help: "Serve /healthz and /readyz (the database and blob store answer) on this port.")
    var healthPort: Int?

    @Option(help: "The address the probes listen on.")
    var healthHost = "0.0.0.0"

    func validate() throws {
        if let healthPort, !(1...65535).contains(healthPort) {
            throw ValidationError("--health-port must be a port from 1 to 65535, not \(healthPort)")
        }
    }

    /// The probes' server, to run in the process's service group; none without `--health-port`.
    func services(store: VersionedStore, logger: Logger) -> [any Service] {
        guard let healthPort else { return [] }
        return [HealthRoutes.server(host: healthHost, port: healthPort, store: store, logger: logger)]
    }
}
