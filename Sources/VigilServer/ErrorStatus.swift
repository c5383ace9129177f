import Foundation
import HTTPTypes
import Hummingbird
import Logging
import VigilStore

/// The one place an error becomes an HTTP answer. A store error keeps its code; what is missing is 404, what
/// is malformed 400, what already exists 409; a full disk is 507 and an outage 503 (with `Retry-After`), both
/// meaning "nothing was done, try again"; anything else is 500 with its code, its detail left to the log.
enum ErrorStatus {
    /// A file asked for that is a folder is no file there: 404, with its own code.
    static let notFound: Set<VigilError.Code> = [
        .repoNotFound, .pathNotFound, .commitNotFound, .branchNotFound, .blobNotFound, .notAFile, .holdNotFound,
        .customerNotFound,
    ]
    static let badRequest: Set<VigilError.Code> = [.badAddress, .badName, .badPath, .badArgument, .badVerdict]
    /// A commit prefix that several commits share is well formed, and names more than one thing as things are.
    static let conflict: Set<VigilError.Code> = [
        .repoExists, .branchExists, .pathConflict, .ambiguousCommit, .holdReleased, .held, .ambiguousHold,
    ]
    /// Seconds a client is told to wait after an outage.
    static let outageRetry = 5

    /// `error` as an answer; nil for one that already is (an `APIError` or another HTTP error).
    static func apiError(for error: any Error) -> APIError? {
        if error is any HTTPResponseError { return nil }
        if Outage.isDiskFull(error) {
            var answer = APIError(
                .init(code: 507, reasonPhrase: "Insufficient Storage"), code: VigilError.Code.diskFull.rawValue,
                "the server's disk is full; nothing was stored. Try again once the operators have freed space")
            answer.retryAfter = 60
            return answer
        }
        if let error = error as? VigilError {
            if notFound.contains(error.code) {
                return APIError(.notFound, code: error.code.rawValue, error.message, value: error.value)
            }
            if badRequest.contains(error.code) {
                return APIError(.badRequest, code: error.code.rawValue, error.message, value: error.value)
            }
            if conflict.contains(error.code) {
                return APIError(.conflict, code: error.code.rawValue, error.message, value: error.value)
            }
            // Erased for good: gone, with the reason, and not coming back (unlike 404).
            if error.code == .erased {
                return APIError(.gone, code: error.code.rawValue, error.message, value: error.value)
            }
        }
        if Outage.isOutage(error) {
            var answer = APIError(
                .serviceUnavailable, code: "service-unavailable",
                "storage or the database is not answering; nothing was done. Try again shortly")
            answer.retryAfter = outageRetry
            return answer
        }
        if let error = error as? VigilError {
            return APIError(
                .internalServerError, code: error.code.rawValue,
                "the service failed (\(error.code.rawValue)); the operators' log has the detail")
        }
        return nil
    }
}

/// Turns errors thrown below it into answers by `ErrorStatus`, logging the ones that are the server's fault.
/// Inside `AccessMiddleware`, so the audit log records the status the client got.
struct ErrorMapping: RouterMiddleware {
    typealias Context = VigilRequestContext
    let logger: Logger

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            guard let answer = ErrorStatus.apiError(for: error) else { throw error }
            if answer.status.code >= 500 {
                logger.error(
                    "request failed",
                    metadata: ["request": "\(request.method) \(request.uri.path)", "error": "\(error)"])
            }
            throw answer
        }
    }
}
