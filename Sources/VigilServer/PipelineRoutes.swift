import Foundation
import Hummingbird
import VigilAccess
import VigilPipeline
import VigilStore

/// `GET /v1/pipelines` (each with its last job) and `GET /v1/jobs?pipeline=` (admins and operators).
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
                    pipeline: query.get("pipeline"), limit: min(1_000, query.get("limit", as: Int.self) ?? 50)))
        }
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
