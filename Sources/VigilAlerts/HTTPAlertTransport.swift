import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import Synchronization
import VigilStore

/// Delivers alerts to an alert/email API as `POST <url>` with the JSON body, `Idempotency-Key`,
/// `X-Vigil-Signature` (HMAC-SHA256 of the body) and `X-Vigil-Attempt` headers, over keep-alive connections.
public final class HTTPAlertTransport: AlertTransport {
    public let url: URL
    public let timeout: Double
    private let signature: AlertSignature
    private let client: HTTPClient
    private let closed = Atomic<Bool>(false)

    /// `timeout`: seconds for the whole request (connecting included); past it the attempt counts as failed.
    public init(url: URL, signature: AlertSignature, timeout: Double = 5, maxConnections: Int = 16) throws {
        guard let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme), url.host != nil else {
            throw AlertError(
                .badConfiguration,
                "the alert API URL must be http(s)://host[:port]/path, e.g. http://127.0.0.1:8025/v1/alerts",
                value: url.absoluteString)
        }
        guard timeout > 0 else {
            throw AlertError(.badConfiguration, "the delivery time-out must be above 0 s", value: "\(timeout)")
        }
        self.url = url
        self.timeout = timeout
        self.signature = signature
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(
            connect: .milliseconds(Int64(timeout * 1000)), read: .milliseconds(Int64(timeout * 1000)))
        configuration.connectionPool = .init(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: maxConnections)
        configuration.redirectConfiguration = .disallow
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public var destination: String { url.absoluteString }

    public func send(_ alert: OutgoingAlert) async -> DeliveryOutcome {
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "vigil-notifier/1")
        request.headers.add(name: "Idempotency-Key", value: alert.idempotencyKey)
        request.headers.add(name: AlertSignature.header, value: signature.sign(alert.body))
        request.headers.add(name: "X-Vigil-Attempt", value: String(alert.attempt))
        // The receiver can continue the frame's trace (nothing is added when tracing is off).
        for (name, value) in TraceHeaders.capture()?.fields ?? [:] {
            request.headers.replaceOrAdd(name: name, value: value)
        }
        request.body = .bytes(ByteBuffer(data: alert.body))
        do {
            let response = try await client.execute(request, timeout: .milliseconds(Int64(timeout * 1000)))
            let status = Int(response.status.code)
            let body = try await response.body.collect(upTo: 64 << 10)
            let text = String(buffer: body).prefix(300)
            switch status {
            case 200..<300:
                return .delivered(status: status)
            case 408, 429, 500...:
                return .failed(
                    status: status, reason: "HTTP \(status): \(text)",
                    retryAfter: response.headers.first(name: "Retry-After").flatMap(Double.init))
            default:
                return .rejected(status: status, reason: "HTTP \(status): \(text)")
            }
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            return .failed(status: nil, reason: "no answer within \(timeout) s", retryAfter: nil)
        } catch {
            return .failed(status: nil, reason: "\(error)", retryAfter: nil)
        }
    }

    public func shutdown() async {
        guard !closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        try? await client.shutdown()
    }

    deinit {
        // Dropped without shutdown() (a caller's error path): the connections are still let go. The client
        // keeps itself alive until its shutdown completes.
        if !closed.load(ordering: .acquiring) { _ = client.shutdown() }
    }
}
