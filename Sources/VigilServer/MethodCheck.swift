import HTTPTypes
import Hummingbird
import Synchronization

/// Answers 405 `method-not-allowed`, with the `Allow` header, for a path the service has routes for but not
/// with the request's method (`TRACE /v1/alerts`): the router alone says 404, as if the path did not exist.
/// It sits after the access check, so such a request is authenticated and audited like any other.
struct MethodCheck: RouterMiddleware {
    typealias Context = VigilRequestContext

    /// The routes, filled in once every route is added (the middleware is added before them).
    final class Routes: Sendable {
        private let table = Mutex<[(path: RouterPath, method: HTTPRequest.Method)]>([])

        func set(_ routes: [Router<Context>.RouteDescription]) {
            table.withLock { $0 = routes.map { ($0.path, $0.method) } }
        }

        /// The methods of the routes whose path matches `path`, in a stable order.
        func methods(for path: String) -> [HTTPRequest.Method] {
            let components = path.split(separator: "/", omittingEmptySubsequences: true)
            let found = table.withLock { table in
                table.filter { Self.matches($0.path, components) }.map(\.method)
            }
            return Array(Set(found)).sorted { $0.rawValue < $1.rawValue }
        }

        private static func matches(_ route: RouterPath, _ components: [Substring]) -> Bool {
            var index = 0
            for element in route.components {
                if element == .recursiveWildcard { return index < components.count }
                guard index < components.count, element ~= components[index] else { return false }
                index += 1
            }
            return index == components.count
        }
    }

    let routes: Routes

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let allowed = routes.methods(for: request.uri.path)
            guard !allowed.isEmpty, !allowed.contains(request.method) else { throw error }
            var refusal = APIError(
                .methodNotAllowed, code: "method-not-allowed",
                "\(request.uri.path) does not take \(request.method.rawValue); it takes "
                    + allowed.map(\.rawValue).joined(separator: ", "),
                value: request.method.rawValue)
            refusal.allow = allowed
            throw refusal
        }
    }
}
