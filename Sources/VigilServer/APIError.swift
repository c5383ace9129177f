import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// An error answer: the HTTP status and the same code, message and offending value every Vigil error has, as
/// `{"error": {"code": …, "message": …, "value": …}}`.
public struct APIError: Error, HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var value: String?
    /// The methods a path takes, for a 405 (its `Allow` header).
    public var allow: [HTTPRequest.Method] = []
    /// Seconds until asking again may succeed, for a 429 or 503 (its `Retry-After` header).
    public var retryAfter: Int?

    public init(_ status: HTTPResponse.Status, code: String, _ message: String, value: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.value = value
    }

    private struct Body: Encodable {
        struct Detail: Encodable {
            var code: String
            var message: String
            var value: String?
        }
        var error: Detail
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer realm=\"vigil\"" }
        if !allow.isEmpty { headers[.allow] = allow.map(\.rawValue).joined(separator: ", ") }
        if let retryAfter { headers[.retryAfter] = "\(retryAfter)" }
        let data = try JSONEncoder().encode(Body(error: .init(code: code, message: message, value: value)))
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func unauthenticated(_ message: String) -> APIError {
        APIError(.unauthorized, code: "unauthenticated", message + "; send Authorization: Bearer <token>")
    }

    static func forbidden(_ message: String, value: String? = nil) -> APIError {
        APIError(.forbidden, code: "forbidden", message, value: value)
    }

    static func notFound(_ message: String, value: String? = nil) -> APIError {
        APIError(.notFound, code: "not-found", message, value: value)
    }

    static func badRequest(code: String, _ message: String, value: String? = nil) -> APIError {
        APIError(.badRequest, code: code, message, value: value)
    }
}
