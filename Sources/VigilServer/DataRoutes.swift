import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import VigilAccess
import VigilStore

/// Repos and files: `GET /v1/repos`, `GET /v1/repos/{repo}/files/{path}?ref=` (download) and
/// `DELETE /v1/repos/{repo}/files/{path}?branch=` (admins and operators: a new commit without it). A customer
/// may read only the images, validation results, detections and threats of its own devices.
struct DataRoutes {
    let environment: ServerEnvironment
    let tenants: TenantScope

    /// The repos a customer may read files of (the uploads and what the stages made of them), scoped to its
    /// devices by path.
    static func customerRepos(_ configuration: ServerConfiguration) -> Set<String> {
        [configuration.imagesRepo, configuration.validateRepo, configuration.detectRepo, configuration.threatsRepo]
    }

    struct Repos: ResponseEncodable {
        var repos: [RepoInfo]
    }

    struct Commits: ResponseEncodable {
        var commits: [CommitInfo]
    }

    struct Deleted: ResponseEncodable {
        var commit: CommitInfo
    }

    func add(to router: Router<VigilRequestContext>) {
        router.get("/v1/repos") { _, context in
            _ = try context.require([.admin, .operator], to: "list repos")
            return Repos(repos: try await environment.store.repos())
        }
        router.get("/v1/repos/:repo/commits") { request, context in
            _ = try context.require([.admin, .operator], to: "list commits")
            let repo = try context.parameters.require("repo")
            let query = request.uri.queryParameters
            return Commits(
                commits: try await environment.store.log(
                    repo, ref: query.get("ref"), limit: try PageLimit.read(query, default: 50)))
        }
        router.get("/v1/repos/:repo/files/**") { request, context in try await file(request, context: context) }
        router.delete("/v1/repos/:repo/files/**") { request, context in try await delete(request, context: context) }
    }

    /// A new commit on the branch without the file or folder; history keeps it (VersionedStore.delete).
    func delete(_ request: Request, context: VigilRequestContext) async throws -> Response {
        let principal = try context.require([.admin, .operator], to: "delete files")
        let repo = try context.parameters.require("repo")
        let path = "/" + context.parameters.getCatchAll().joined(separator: "/")
        let commit = try await environment.store.delete(
            [path], from: repo, branch: request.uri.queryParameters.get("branch"),
            author: "\(principal.name) (\(principal.role.rawValue))")
        var response = try Deleted(commit: commit).response(from: request, context: context)
        response.headers[.vigilTarget] = "\(repo)@\(commit.id):\(path) deleted"
        return response
    }

    func file(_ request: Request, context: VigilRequestContext) async throws -> Response {
        let principal = try context.require([.admin, .operator, .customer], to: "read files")
        let repo = try context.parameters.require("repo")
        let path = "/" + context.parameters.getCatchAll().joined(separator: "/")
        let ref = request.uri.queryParameters.get("ref")
        let visibility = try await tenants.visibility(of: principal)
        if visibility.devices != nil {
            guard Self.customerRepos(environment.configuration).contains(repo), visibility.mayRead(path: path) else {
                // Not this customer's: indistinguishable from absent.
                throw APIError.notFound("no file '\(path)' in \(repo) that this token may read", value: path)
            }
        }
        // Store errors become answers in `ErrorMapping`, as everywhere.
        let found = try await environment.store.entry(at: Address(repo: repo, ref: ref, path: path))
        guard found.entry.kind == .file else {
            throw APIError(.notFound, code: "not-a-file", "'\(path)' is a folder, not a file", value: path)
        }
        let commit = found.commit
        let data = try await environment.store.readFile(repo: repo, path: path, hash: found.entry.hash)
        let type =
            switch (path as NSString).pathExtension.lowercased() {
            case "jpg", "jpeg": "image/jpeg"
            case "png": "image/png"
            case "json": "application/json"
            case "svg": "image/svg+xml"
            case "csv": "text/csv"
            default: "application/octet-stream"
            }
        let address = "\(repo)@\(commit?.id ?? ref ?? environment.store.defaultBranch):\(path)"
        return Response(
            status: .ok,
            headers: [.contentType: type, .vigilTarget: address, HTTPField.Name("X-Vigil-Address")!: address],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

}
