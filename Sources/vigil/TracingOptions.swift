import ArgumentParser
import Foundation
import Logging
import OTel
import ServiceLifecycle
import Tracing
import VigilStore

/// `--otel-endpoint`: traces of every frame (upload, commits, jobs, datums, deliveries) sent over OTLP/HTTP to
/// a collector. Without it no tracer is bootstrapped and tracing costs nothing.
struct TracingOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Send traces over OTLP/HTTP to this collector URL (as-is, e.g. http://127.0.0.1:4318/v1/traces).",
            discussion:
                "Off when not given. The OTEL_* environment variables refine it, e.g. OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/json, OTEL_TRACES_SAMPLER."
        ))
    var otelEndpoint: String?

    @Option(help: "The service name the traces carry (default: vigil-<command>).")
    var otelServiceName: String?

    func validate() throws {
        guard let otelEndpoint else { return }
        guard let url = URL(string: otelEndpoint), ["http", "https"].contains(url.scheme?.lowercased() ?? ""),
            url.host?.isEmpty == false
        else {
            throw ValidationError(
                "--otel-endpoint must be an http:// or https:// URL with a host, such as http://127.0.0.1:4318/v1/traces, not '\(otelEndpoint)'"
            )
        }
    }

    /// Bootstraps the tracer when an endpoint is given and returns the service that exports its spans: run it
    /// first in the service group, so that it stops last and sends the spans of everything that stopped before.
    func start(command: String, logger: Logger) throws -> (any Service)? {
        guard let otelEndpoint else { return nil }
        var configuration = OTel.Configuration.default
        configuration.serviceName = otelServiceName ?? "vigil-\(command)"
        configuration.metrics.enabled = false
        configuration.logs.enabled = false
        configuration.diagnosticLogger = .custom(logger)
        configuration.traces.otlpExporter.endpoint = otelEndpoint
        configuration.traces.otlpExporter.protocol = .httpProtobuf
        let (tracer, service) = try OTel.makeTracingBackend(configuration: configuration)
        InstrumentationSystem.bootstrap(tracer)
        return service
    }

    /// Log lines that carry the trace and span ids of the span they were logged in, when tracing is on.
    static func metadataProvider() -> Logger.MetadataProvider? {
        TraceHeaders.isTracing ? OTel.makeLoggingMetadataProvider() : nil
    }
}
