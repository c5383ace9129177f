import Foundation
import Hummingbird
import VigilAlerts
import VigilStore

/// `GET /v1/models/compare?a=detect&b=detect-candidate` (admins and operators): a shadow run's report, as
/// `vigil models compare` prints it (`ModelComparison`). It reads every customer's frames, so customers do not
/// get it.
struct ModelRoutes {
    let environment: ServerEnvironment

    /// `repo` or `repo@ref`, as the CLI takes them.
    static let sidePattern = #"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}(@[A-Za-z0-9][A-Za-z0-9_.-]{0,39}(\^[0-9]{0,3}){0,8})?$"#

    func add(to router: Router<VigilRequestContext>) {
        router.get("/v1/models/compare") { request, context in
            _ = try context.require([.admin, .operator], to: "compare models")
            var sides: [String] = []
            for name in ["a", "b"] {
                guard let side = request.uri.queryParameters.get(name),
                    side.range(of: Self.sidePattern, options: .regularExpression) != nil
                else {
                    throw APIError.badRequest(
                        code: "bad-comparison",
                        "`\(name)` must name a detect pipeline's output repo, optionally at a ref: "
                            + "?a=detect&b=detect-candidate (or detect@master^)",
                        value: request.uri.queryParameters.get(name) ?? "")
                }
                sides.append(side)
            }
            let configuration = environment.configuration
            return try await ModelComparison(
                store: environment.store,
                verdicts: VerdictBook(store: environment.store, repo: configuration.verdictsRepo),
                rulesRepo: configuration.rulesRepo
            ).compare(sides[0], sides[1])
        }
    }
}

extension ModelComparison.Report: ResponseEncodable {}
