import Foundation
import Hummingbird
import VigilAccess
import VigilPipeline
import VigilStore

/// `GET /v1/pipelines` (each with its last job), `GET /v1/jobs?pipeline=` and `GET /v1/workers?pipeline=` (admins
/// and operators).
struct PipelineRoutes {
    let environment: ServerEnvironment

    struct Pipeline: Codable, Sendable {
        var name: String
        var description: String?
        var version: Int
        var spec: String
        var lastJob: JobInfo?
    }

    struct Pipelines: ResponseEncodable {
        var pipelines: [Pipeline]
    }

    struct Jobs: ResponseEncodable {
        var jobs: [JobInfo]
    }

    struct Workers: ResponseEncodable {
        /// Whether datums are queued for workers (a shared database); false: the engine runs them itself.
        var queued: Bool
        var workers: [WorkerStatus]
    }

    func add(to router: Router<VigilRequestContext>) {
        router.get("/v1/pipelines") { _, context in
            _ = try context.require([.admin, .operator], to: "read pipelines")
            return Pipelines(pipelines: try await pipelines())
        }
        router.get("/v1/jobs") { request, context in
            _ = try context.require([.admin, .operator], to: "read jobs")
            let query = request.uri.queryParameters
            return Jobs(
                jobs: try await environment.jobs.jobs(
                    pipeline: query.get("pipeline"), limit: try PageLimit.read(query, default: 50)))
        }
        router.get("/v1/workers") { request, context in
            _ = try context.require([.admin, .operator], to: "read workers")
            return try await workers(pipeline: request.uri.queryParameters.get("pipeline"))
        }
    }

    func workers(pipeline: String? = nil) async throws -> Workers {
        guard let queue = environment.queue else { return Workers(queued: false, workers: []) }
        return Workers(
            queued: true,
            workers: try await queue.workers().filter { pipeline == nil || $0.worker.pipeline == pipeline })
    }

    func pipelines() async throws -> [Pipeline] {
        var out: [Pipeline] = []
        for record in try await environment.jobs.pipelines() {
            out.append(
                Pipeline(
                    name: record.name, description: record.spec.description, version: record.version,
                    spec: record.source, lastJob: try await environment.jobs.jobs(pipeline: record.name, limit: 1).first
                ))
        }
        return out
    }
}
