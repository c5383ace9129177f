import Foundation
import Hummingbird
import VigilAccess
import VigilStore

/// `GET /v1/lineage?address=repo@ref:/path`: what produced a file, back to the uploaded image: the commit that
/// holds it and every commit upstream of it, each with its pipeline spec and model (the commit's origin), its
/// inputs, author and time. The answer a compliance officer or an insurer asks for.
struct LineageRoutes {
    let environment: ServerEnvironment
    let tenants: TenantScope

    struct Step: Codable, Sendable {
        var repo: String
        var commit: String
        var author: String
        var message: String
        var finished: Date
        /// What computed it: `pipeline <name> spec <hash>`, the stage identity (model), or nil for data put in.
        var origin: String?
        var inputs: [String]
    }

    struct Lineage: ResponseEncodable {
        var address: String
        var file: TreeEntry?
        var commits: [Step]
    }

    func add(to router: Router<VigilRequestContext>) {
        router.get("/v1/lineage") { request, context in
            let principal = try context.require([.admin, .operator, .customer], to: "read lineage")
            guard let text = request.uri.queryParameters.get("address") else {
                throw APIError.badRequest(
                    code: "bad-argument", "give ?address=repo@ref:/path, e.g. threats@master:/cam1/cam1-1.jpg.json")
            }
            let address: Address
            do {
                address = try Address.parse(text)
            } catch let error as VigilError {
                throw APIError.badRequest(code: error.code.rawValue, error.message, value: text)
            }
            let visibility = try await tenants.visibility(of: principal)
            if visibility.devices != nil {
                guard DataRoutes.customerRepos(environment.configuration).contains(address.repo),
                    visibility.mayRead(path: address.path)
                else { throw APIError.notFound("nothing at '\(text)' that this token may see", value: text) }
            }
            return try await lineage(of: address, text: text)
        }
    }

    func lineage(of address: Address, text: String) async throws -> Lineage {
        let store = environment.store
        let (commit, entry) = try await store.entry(at: address)
        guard let commit else { throw APIError.notFound("'\(text)' names no commit yet", value: text) }
        var steps: [Step] = []
        for reference in [commit.reference] + (try await store.provenance(of: commit.reference, transitive: true)) {
            guard let info = try await store.commit(id: reference.commit) else { continue }
            steps.append(
                Step(
                    repo: info.repo, commit: info.id, author: info.author, message: info.message,
                    finished: info.finished, origin: info.provenance.origin,
                    inputs: info.provenance.inputs.map(\.description)))
        }
        return Lineage(address: "\(address.repo)@\(commit.id):\(address.path)", file: entry, commits: steps)
    }
}
