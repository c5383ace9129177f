import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import VigilAccess

/// Authenticates every request but the public ones (a Bearer token → the principal in the context, else 401)
/// and writes each `/v1` request to the audit log: who, what, when, and the status it ended with. Tokens are
/// never logged: the action is the method and the path, without the query.
struct AccessMiddleware: RouterMiddleware {
    typealias Context = VigilRequestContext
    let access: any AccessStore
    let throttle: SignInThrottle
    let logger: Logger

    /// Served without a token.
    static let publicPaths: Set<String> = ["/healthz", "/readyz", "/openapi.yaml"]
    /// Served to anyone, showing more to a signed-in caller (the dashboard shows its sign-in form).
    static let optionalPaths: Set<String> = ["/", "/logout", "/sign-in"]
    /// The dashboard's cookie: accepted on GET and HEAD, which change nothing, and on the dashboard's own form
    /// posts only with the page's form key (`DashboardFormKey`), so a page elsewhere cannot make a browser change
    /// anything with it.
    static let cookie = "vigil_token"
    /// The dashboard's forms, which post with the cookie and the form key.
    static let formPaths: Set<String> = ["/verdict"]

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws
        -> Response
    {
        let path = request.uri.path
        if Self.publicPaths.contains(path) { return try await next(request, context) }
        var context = context
        var failure: (any Error)?
        var response: Response?
        let audited =
            path.hasPrefix("/v1/") || path == "/metrics" || path == "/" || path == "/sign-in"
            || Self.formPaths.contains(path)
        let tokenKeys = SignInThrottle.keys(address: nil, token: Self.presentedToken(request))
        let addressKeys = SignInThrottle.keys(address: context.remoteAddress, token: nil)
        if let wait = throttle.retryAfter(tokenKeys) {
            failure = Self.tooManyFailures(wait)
        } else {
            let addressWait = throttle.retryAfter(addressKeys)
            do {
                do {
                    context.principal = try await authenticate(request)
                } catch  where Self.optionalPaths.contains(path) {
                    context.principal = nil
                }
                response = try await next(request, context)
            } catch {
                failure = error
            }
            let status = response?.status.code ?? Self.status(of: failure)
            if status == 401 {
                throttle.recordFailure(for: tokenKeys + addressKeys)
                if let addressWait {
                    response = nil
                    failure = Self.tooManyFailures(addressWait)
                }
            }
        }
        if let refusal = failure as? APIError, refusal.code == Self.throttled {
            Counter(label: "vigil_http_throttled_total").increment()
            // One entry per block, not one per refused request: the log stays bounded under a flood.
            if !throttle.isFirstRefusal(tokenKeys + addressKeys) { throw refusal }
        }
        if audited {
            let status = response?.status.code ?? Self.status(of: failure)
            let principal = context.principal
            let entry = AuditEntry(
                time: Date(), tokenID: principal?.tokenID ?? "-", principal: principal?.name ?? "-",
                role: principal?.role.rawValue ?? "-", action: "\(request.method.rawValue) \(path)",
                target: response?.headers[.vigilTarget], status: status,
                detail: (failure as? APIError).map { "\($0.code): \($0.message)" })
            do {
                try await access.record(entry)
            } catch {
                // An access that cannot be audited is refused: the log must not have holes.
                logger.error("cannot write the audit log", metadata: ["error": "\(error)"])
                throw APIError(.serviceUnavailable, code: "audit-unavailable", "the audit log cannot be written")
            }
        }
        if let failure { throw failure }
        var answer = response!
        answer.headers[.vigilTarget] = nil
        return answer
    }

    static let throttled = "too-many-failures"

    private static func tooManyFailures(_ wait: Double) -> APIError {
        let seconds = max(1, Int(wait.rounded(.up)))
        var error = APIError(
            .tooManyRequests, code: throttled,
            "too many requests without a valid token from this address or for this token; try again in \(seconds) s")
        error.retryAfter = seconds
        return error
    }

    /// The token a request carries, unchecked (for the throttle's keys).
    static func presentedToken(_ request: Request) -> String? {
        if let header = request.headers[.authorization], header.hasPrefix("Bearer ") {
            return String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        }
        return request.cookies[cookie]?.value
    }

    private func authenticate(_ request: Request) async throws -> Principal {
        let token: String
        if let header = request.headers[.authorization] {
            guard header.hasPrefix("Bearer ") else {
                throw APIError.unauthenticated("the Authorization header is not a Bearer token")
            }
            token = String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces)
        } else if let cookie = request.cookies[Self.cookie],
            request.method == .get || request.method == .head
                || (request.method == .post && Self.formPaths.contains(request.uri.path)
                    && DashboardFormKey.matches(request.uri.queryParameters.get("form"), token: cookie.value))
        {
            token = cookie.value
        } else {
            throw APIError.unauthenticated("no token")
        }
        do {
            return try await access.authenticate(token)
        } catch let error as AccessError {
            throw APIError.unauthenticated(error.message)
        }
    }

    private static func status(of error: (any Error)?) -> Int {
        switch error {
        case let error as any HTTPResponseError: Int(error.status.code)
        default: 500
        }
    }
}

extension HTTPField.Name {
    /// Set by a handler to say what it touched (`images@<commit>:/<name>`), for the audit log; not sent.
    static let vigilTarget = HTTPField.Name("X-Vigil-Target")!
}
