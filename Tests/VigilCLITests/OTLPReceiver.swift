import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// A small OTLP/HTTP collector for tests: takes `POST /v1/traces` in OTLP's JSON encoding and keeps the spans.
final class OTLPReceiver: Sendable {
    struct Span: Sendable {
        var traceID: String
        var spanID: String
        var parentSpanID: String?
        var name: String
        var start: UInt64
        var end: UInt64
        var attributes: [String: String]
        /// The sending process's `service.name`.
        var service: String?
    }

    private let received = Mutex<[Span]>([])
    /// Bodies that were not OTLP JSON (a test fails on any).
    private let rejected = Mutex<[String]>([])

    var spans: [Span] { received.withLock { $0 } }
    var errors: [String] { rejected.withLock { $0 } }

    /// Serves on a free loopback port, told to `onPort`, until cancelled.
    func run(onPort: @escaping @Sendable (Int) async -> Void) async throws {
        let router = Router()
        router.post("/v1/traces") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 32 << 20)
            do {
                let spans = try Self.parse(Data(buffer: body))
                self.received.withLock { $0.append(contentsOf: spans) }
            } catch {
                self.rejected.withLock { $0.append("\(error): \(String(buffer: body).prefix(200))") }
                return Response(status: .badRequest)
            }
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: "{}")))
        }
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { await onPort($0.localAddress?.port ?? 0) },
            // Stopped by cancellation at the test's end, which it would log as errors.
            logger: Logger(label: "otlp-receiver", factory: { _ in SwiftLogNoOpLogHandler() }))
        try await app.runService()
    }

    struct NotOTLP: Error, CustomStringConvertible {
        var description: String
    }

    /// ExportTraceServiceRequest as JSON: resourceSpans → scopeSpans → spans.
    static func parse(_ data: Data) throws -> [Span] {
        guard let root = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let resources = root["resourceSpans"] as? [[String: Any]]
        else { throw NotOTLP(description: "no resourceSpans") }
        var spans: [Span] = []
        for resource in resources {
            let service = attributes(of: resource["resource"] as? [String: Any])["service.name"]
            for scope in resource["scopeSpans"] as? [[String: Any]] ?? [] {
                for span in scope["spans"] as? [[String: Any]] ?? [] {
                    guard let trace = (span["traceId"] as? String).flatMap(hex),
                        let id = (span["spanId"] as? String).flatMap(hex), let name = span["name"] as? String
                    else { throw NotOTLP(description: "a span without traceId, spanId or name") }
                    spans.append(
                        Span(
                            traceID: trace, spanID: id,
                            parentSpanID: (span["parentSpanId"] as? String).flatMap(hex).flatMap {
                                $0.isEmpty ? nil : $0
                            },
                            name: name, start: nanoseconds(span["startTimeUnixNano"]),
                            end: nanoseconds(span["endTimeUnixNano"]), attributes: attributes(of: span),
                            service: service))
                }
            }
        }
        return spans
    }

    /// An object's `attributes` (OTLP's key/value list) as text by key.
    private static func attributes(of object: [String: Any]?) -> [String: String] {
        var found: [String: String] = [:]
        for attribute in object?["attributes"] as? [[String: Any]] ?? [] {
            guard let key = attribute["key"] as? String, let value = attribute["value"] as? [String: Any] else {
                continue
            }
            found[key] = value.values.first.map { "\($0)" }
        }
        return found
    }

    /// An id as lowercase hex, whether sent as hex (OTLP's JSON rule) or as base64 (protobuf's JSON mapping).
    private static func hex(_ text: String) -> String? {
        let hexDigits = CharacterSet(charactersIn: "0123456789abcdefABCDEF")
        if text.isEmpty { return "" }
        if (text.count == 32 || text.count == 16), text.unicodeScalars.allSatisfy(hexDigits.contains) {
            return text.lowercased()
        }
        return Data(base64Encoded: text).map { $0.map { String(format: "%02x", $0) }.joined() }
    }

    private static func nanoseconds(_ value: Any?) -> UInt64 {
        if let text = value as? String { return UInt64(text) ?? 0 }
        return (value as? NSNumber)?.uint64Value ?? 0
    }
}
