import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization
import VigilAlerts

/// A small real alert API: what the notifier talks to in the demo, the tests and the benchmarks, in place of
/// an email or SMS service. It checks each alert's signature, keeps each idempotency key once (a repeat is
/// answered 200 and not stored again), can be told to fail or to be slow, and lists what arrived.
///
/// `POST /v1/alerts` (an alert), `GET /v1/alerts` (what arrived), `GET /v1/stats`, `GET|PUT /v1/behaviour`
/// (failures and delays to inject), `GET /healthz`.
public final class AlertSink: Sendable {
    /// Misbehaviour on request, to test a notifier against.
    public struct Behaviour: Sendable, Hashable, Codable {
        /// Answer the next N alerts with `failStatus` (not stored).
        public var failNext: Int
        public var failStatus: Int
        /// Answer this share of alerts (0–1) with `failStatus`, at random.
        public var failRate: Double
        /// Wait this long before handling the next `delayNext` alerts (they are stored after the wait: a client
        /// that timed out meanwhile will send them again, and must be told they are duplicates).
        public var delayMs: Int
        public var delayNext: Int

        public init(
            failNext: Int = 0, failStatus: Int = 500, failRate: Double = 0, delayMs: Int = 0, delayNext: Int = 0
        ) {
            self.failNext = failNext
            self.failStatus = failStatus
            self.failRate = failRate
            self.delayMs = delayMs
            self.delayNext = delayNext
        }

        enum CodingKeys: String, CodingKey { case failNext, failStatus, failRate, delayMs, delayNext }

        public init(from decoder: any Decoder) throws {
            let values = try decoder.container(keyedBy: CodingKeys.self)
            self.init(
                failNext: try values.decodeIfPresent(Int.self, forKey: .failNext) ?? 0,
                failStatus: try values.decodeIfPresent(Int.self, forKey: .failStatus) ?? 500,
                failRate: try values.decodeIfPresent(Double.self, forKey: .failRate) ?? 0,
                delayMs: try values.decodeIfPresent(Int.self, forKey: .delayMs) ?? 0,
                delayNext: try values.decodeIfPresent(Int.self, forKey: .delayNext) ?? 0)
        }
    }

    /// One alert as it arrived (the first time its key was seen).
    public struct Received: Sendable, Hashable, Codable {
        public var idempotencyKey: String
        public var receivedAt: Date
        /// `X-Vigil-Attempt` of the request that delivered it.
        public var attempt: Int
        public var alert: AlertPayload
    }

    public struct Stats: Sendable, Hashable, Codable {
        /// Alerts stored (distinct idempotency keys).
        public var received = 0
        /// Requests for a key already stored (answered 200, not stored again).
        public var duplicates = 0
        /// Requests refused for a missing or wrong signature.
        public var badSignatures = 0
        /// Requests refused for another reason (no key, not an alert).
        public var badRequests = 0
        /// Requests answered with an injected failure.
        public var injectedFailures = 0
        /// Requests delayed on purpose.
        public var delayed = 0
    }

    private struct State {
        var received: [Received] = []
        var keys: Set<String> = []
        var stats = Stats()
        var behaviour: Behaviour
        var journal: FileHandle?
    }

    /// Body size limit: an alert with the image inline is a few MB at most.
    public static let maxBody = 32 << 20
    private let signature: AlertSignature
    private let state: Mutex<State>
    private let onReceive: @Sendable (Received) -> Void
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()
    private static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()

    /// `journal`: a file where each alert received is appended as a JSON line (and read back at start, so a
    /// restarted sink still knows the keys it has); nil keeps them in memory only.
    public init(
        signature: AlertSignature, journal: URL? = nil, behaviour: Behaviour = Behaviour(),
        onReceive: @escaping @Sendable (Received) -> Void = { _ in }
    ) throws {
        self.signature = signature
        self.onReceive = onReceive
        var state = State(behaviour: behaviour)
        if let journal {
            var endsMidLine = false
            if let text = try? String(contentsOf: journal, encoding: .utf8) {
                // A sink killed while appending leaves half a line; the next one must start on a line of its own.
                endsMidLine = !text.isEmpty && !text.hasSuffix("\n")
                for line in text.split(separator: "\n") {
                    guard let received = try? Self.decoder.decode(Received.self, from: Data(line.utf8)),
                        state.keys.insert(received.idempotencyKey).inserted
                    else { continue }
                    state.received.append(received)
                }
                state.stats.received = state.received.count
            } else {
                _ = FileManager.default.createFile(atPath: journal.path, contents: nil)
            }
            guard let handle = try? FileHandle(forWritingTo: journal) else {
                throw AlertError(.io, "cannot write the sink's journal '\(journal.path)'", value: journal.path)
            }
            handle.seekToEndOfFile()
            if endsMidLine { handle.write(Data("\n".utf8)) }
            state.journal = handle
        }
        self.state = Mutex(state)
    }

    public var received: [Received] { state.withLock { $0.received } }
    public var stats: Stats { state.withLock { $0.stats } }

    public var behaviour: Behaviour {
        get { state.withLock { $0.behaviour } }
        set { state.withLock { $0.behaviour = newValue } }
    }

    // MARK: HTTP

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/v1/alerts") { request, _ in try await self.receive(request) }
        router.get("/v1/alerts") { _, _ in Self.json(["alerts": self.received]) }
        router.get("/v1/stats") { _, _ in Self.json(self.stats) }
        router.get("/v1/behaviour") { _, _ in Self.json(self.behaviour) }
        router.put("/v1/behaviour") { request, _ in
            let body = try await request.body.collect(upTo: 64 << 10)
            guard let behaviour = try? Self.decoder.decode(Behaviour.self, from: Data(buffer: body)) else {
                return Self.problem(.badRequest, "the body must be a JSON behaviour, e.g. {\"failNext\": 3}")
            }
            self.behaviour = behaviour
            return Self.json(behaviour)
        }
        router.get("/healthz") { _, _ in Self.json(["status": "ok"]) }
        return router
    }

    /// The server on `host:port` (port 0: any free one; `onRunning` is told which).
    public func application(
        host: String = "127.0.0.1", port: Int, logger: Logger,
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        Application(
            router: router(),
            configuration: .init(address: .hostname(host, port: port), serverName: "vigil-alert-sink"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) }, logger: logger)
    }

    /// Runs the server on `host` and a free port while `body` runs, with the alerts URL; stops it after.
    public func whileRunning<T: Sendable>(
        host: String = "127.0.0.1", logger: Logger, _ body: @Sendable (URL) async throws -> T
    ) async throws -> T {
        let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
        let app = application(host: host, port: 0, logger: logger) { portSink.yield($0) }
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await app.run()
                return nil
            }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw CancellationError() }
            let result = try await body(URL(string: "http://\(host):\(port)/v1/alerts")!)
            group.cancelAll()
            return result
        }
    }

    private func receive(_ request: Request) async throws -> Response {
        let buffer = try await request.body.collect(upTo: Self.maxBody)
        let body = Data(buffer: buffer)
        guard signature.verify(body, header: request.headers[HTTPField.Name(AlertSignature.header)!]) else {
            state.withLock { $0.stats.badSignatures += 1 }
            return Self.problem(.unauthorized, "missing or wrong \(AlertSignature.header) (HMAC-SHA256 of the body)")
        }
        guard let key = request.headers[HTTPField.Name("Idempotency-Key")!], !key.isEmpty else {
            state.withLock { $0.stats.badRequests += 1 }
            return Self.problem(.badRequest, "an Idempotency-Key header is required")
        }
        guard let alert = try? Self.decoder.decode(AlertPayload.self, from: body), alert.idempotencyKey == key else {
            state.withLock { $0.stats.badRequests += 1 }
            return Self.problem(.badRequest, "the body is not an alert (docs/schemas/alert.schema.json) for key \(key)")
        }
        let delay = state.withLock { state -> Int in
            guard state.behaviour.delayNext > 0 else { return 0 }
            state.behaviour.delayNext -= 1
            state.stats.delayed += 1
            return state.behaviour.delayMs
        }
        if delay > 0 { try await Task.sleep(for: .milliseconds(delay)) }
        let failure = state.withLock { state -> Int? in
            let behaviour = state.behaviour
            guard behaviour.failNext > 0 || (behaviour.failRate > 0 && Double.random(in: 0..<1) < behaviour.failRate)
            else { return nil }
            state.behaviour.failNext = max(0, behaviour.failNext - 1)
            state.stats.injectedFailures += 1
            return behaviour.failStatus
        }
        if let failure {
            return Self.problem(HTTPResponse.Status(code: failure), "failure injected by the sink's behaviour")
        }
        let received = Received(
            idempotencyKey: key, receivedAt: Date(),
            attempt: request.headers[HTTPField.Name("X-Vigil-Attempt")!].flatMap { Int($0) } ?? 1, alert: alert)
        let line = try Self.encoder.encode(received) + Data("\n".utf8)
        let isNew = state.withLock { state -> Bool in
            guard state.keys.insert(key).inserted else {
                state.stats.duplicates += 1
                return false
            }
            state.received.append(received)
            state.stats.received += 1
            state.journal?.write(line)
            return true
        }
        if isNew { onReceive(received) }
        return Self.json(
            ["status": isNew ? "accepted" : "duplicate", "idempotencyKey": key], status: isNew ? .created : .ok)
    }

    private static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    private static func problem(_ status: HTTPResponse.Status, _ message: String) -> Response {
        json(["error": message], status: status)
    }
}
