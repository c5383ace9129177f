import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import Synchronization

/// Signed requests to one bucket of an S3-compatible service, with bounded retries. The operations
/// (objects, listing, multipart) are in extensions; `S3BlobStore` and `vigil put … s3://…` build on them.
///
/// Retries: a refused, reset or timed-out connection, any 5xx, `SlowDown` and `RequestTimeout` are retried
/// up to `maxAttempts` times with exponential back-off and jitter (half fixed, half random, so a restarting
/// server gets a known minimum of time). Every request S3BlobStore sends is safe to repeat: puts are
/// conditional or of identical content-addressed bytes, deletes and copies are idempotent.
public final class S3Client: Sendable {
    public let configuration: S3Configuration
    let signer: SigV4Signer
    let logger: Logger
    private let http: HTTPClient
    /// `Host` as sent and signed: the endpoint's host, the bucket in front when virtual-hosted, the port if any.
    let host: String
    private let origin: String
    let pathPrefix: String

    public init(configuration: S3Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        signer = SigV4Signer(
            accessKey: configuration.credentials.accessKey, secretKey: configuration.credentials.secretKey,
            sessionToken: configuration.credentials.sessionToken, region: configuration.region, service: "s3")
        let endpoint = configuration.endpoint
        let scheme = endpoint.scheme!.lowercased()
        var hostName = endpoint.host!
        if configuration.addressing == .virtual { hostName = configuration.bucket + "." + hostName }
        host = hostName + (endpoint.port.map { ":\($0)" } ?? "")
        origin = scheme + "://" + host
        pathPrefix = configuration.addressing == .path ? "/" + configuration.bucket : ""
        http = S3HTTP.client(maxConnections: configuration.maxConnections)
    }

    enum Method: String {
        case get = "GET"
        case put = "PUT"
        case post = "POST"
        case head = "HEAD"
        case delete = "DELETE"
    }

    /// A response with its whole body (S3's error answers and list pages are small; blob bodies are what the
    /// caller asked for).
    struct Response: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: ByteBuffer

        var data: Data { Data(buffer: body) }
        var xml: S3XMLNode? { S3XMLNode.parse(data) }
        /// S3's error code (`NoSuchKey`, `SignatureDoesNotMatch`, …), or the status when the body has none
        /// (HEAD answers never do).
        var errorCode: String { xml?.value("Code") ?? "HTTP \(status)" }
        var errorMessage: String? { xml?.value("Message") }
    }

    /// Sends one signed request, retrying what is worth retrying; answers that are not retried (2xx, 3xx, 4xx)
    /// come back for the caller to judge.
    func send(
        _ method: Method, key: String?, query: [(name: String, value: String)] = [],
        headers extra: [(name: String, value: String)] = [], body: ByteBuffer? = nil,
        payloadHash: String = SigV4Signer.emptyPayloadHash, maxAttempts: Int? = nil
    ) async throws -> Response {
        let maxAttempts = maxAttempts ?? configuration.maxAttempts
        let path = pathPrefix + "/" + (key ?? "")
        let url = origin + SigV4Signer.canonicalPath(path) + queryString(query)
        var attempt = 0
        var lastProblem = ""
        while true {
            attempt += 1
            try Task.checkCancellation()
            let timestamp = SigV4Signer.timestamp(Date())
            var headers = extra
            headers.append(("host", host))
            headers.append(("x-amz-date", timestamp))
            headers.append(("x-amz-content-sha256", payloadHash))
            if let token = configuration.credentials.sessionToken { headers.append(("x-amz-security-token", token)) }
            let signature = signer.sign(
                .init(method: method.rawValue, path: path, query: query, headers: headers, payloadHash: payloadHash),
                timestamp: timestamp)
            var request = HTTPClientRequest(url: url)
            request.method = .init(rawValue: method.rawValue)
            for header in headers { request.headers.add(name: header.name, value: header.value) }
            request.headers.add(name: "Authorization", value: signature.authorization)
            if let body { request.body = .bytes(body) }
            do {
                let response = try await http.execute(
                    request, timeout: .milliseconds(Int64(configuration.requestTimeout * 1000)))
                // The body S3 announced (a chunked one is bounded only by memory, as a whole blob must be).
                let limit = response.headers.first(name: "content-length").flatMap(Int.init) ?? Int.max
                let collected = method == .head ? ByteBuffer() : try await response.body.collect(upTo: limit)
                let answer = Response(status: Int(response.status.code), headers: response.headers, body: collected)
                guard Self.isRetryable(answer) else { return answer }
                lastProblem = "\(answer.errorCode) (\(answer.status))"
            } catch let error as CancellationError {
                throw error
            } catch {
                lastProblem = String(describing: error)
            }
            guard attempt < maxAttempts else {
                throw VigilError(
                    .s3Unreachable,
                    "S3 at \(configuration.endpoint.absoluteString) did not answer \(method.rawValue) "
                        + "\(key ?? configuration.bucket) after \(attempt) tries: \(lastProblem)",
                    value: configuration.endpoint.absoluteString)
            }
            let delay = backoff(attempt)
            logger.debug(
                "S3 request retried",
                metadata: [
                    "method": "\(method.rawValue)", "key": "\(key ?? "")", "attempt": "\(attempt)",
                    "problem": "\(lastProblem)", "delay": "\(delay)",
                ])
            try await Task.sleep(for: .seconds(delay))
        }
    }

    static func isRetryable(_ response: Response) -> Bool {
        if response.status >= 500 || response.status == 429 { return true }
        guard response.status == 400 || response.status == 403 else { return false }
        // 400 RequestTimeout: the server gave up on a slow body; 403 RequestTimeTooSkewed stays an error.
        return ["RequestTimeout", "SlowDown"].contains(response.errorCode)
    }

    /// Exponential with equal jitter: half the step fixed, half random.
    func backoff(_ attempt: Int) -> Double {
        let step = min(configuration.maxBackoff, configuration.baseBackoff * pow(2, Double(attempt - 1)))
        return step / 2 + Double.random(in: 0...(step / 2))
    }

    private func queryString(_ query: [(name: String, value: String)]) -> String {
        query.isEmpty ? "" : "?" + SigV4Signer.canonicalQuery(query)
    }

    /// The error for an answer the caller did not expect: 403 → access denied, `NoSuchBucket` → bucket not
    /// found, anything else → `s3-error`, each naming S3's error code.
    func failure(_ response: Response, _ operation: String, key: String?) -> VigilError {
        let code = response.errorCode
        let detail = response.errorMessage.map { ": \($0)" } ?? ""
        let place = configuration.endpoint.absoluteString
        if response.status == 403 {
            return VigilError(
                .s3AccessDenied,
                "S3 at \(place) refused \(operation) in bucket '\(configuration.bucket)' with \(code) (403)\(detail); "
                    + "check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the key's permissions",
                value: code)
        }
        if code == "NoSuchBucket" {
            return VigilError(
                .s3BucketNotFound,
                "there is no bucket '\(configuration.bucket)' at \(place); create it, or fix --store",
                value: configuration.bucket)
        }
        return VigilError(
            .s3Error,
            "S3 at \(place) answered \(operation) \(key ?? configuration.bucket) with \(code) (\(response.status))\(detail)",
            value: code)
    }
}

/// One HTTP client per process and pool size, never shut down (like `HTTPClient.shared`, whose pool is too
/// small for 32 concurrent writers): stores come and go, their keep-alive connections stay.
enum S3HTTP {
    private static let clients = Mutex<[Int: HTTPClient]>([:])

    static func client(maxConnections: Int) -> HTTPClient {
        clients.withLock { clients in
            if let client = clients[maxConnections] { return client }
            var configuration = HTTPClient.Configuration()
            configuration.timeout = .init(connect: .seconds(5), read: .seconds(60))
            configuration.connectionPool = .init(
                idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: maxConnections)
            configuration.redirectConfiguration = .disallow
            configuration.decompression = .disabled
            // A refused connection fails at once and counts as one of our bounded tries, rather than being
            // retried inside the pool until the connect time-out, where no back-off or limit of ours applies.
            configuration.connectionPool.retryConnectionEstablishment = false
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            clients[maxConnections] = client
            return client
        }
    }
}
