import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import Prometheus
import VigilAccess
import VigilBackends
import VigilServer
import VigilStore
import VigilVision

#if canImport(Glibc)
    import Glibc
#endif

/// How long a camera's upload takes to be answered while other clients hold connections open and say nothing
/// (half silent, half stopped in the middle of a request's head), against the same server with none held.
/// The API alone, as `vigil serve` runs it (no pipelines: their work would drown the connections' cost).
struct ConnectionsBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connections", abstract: "Time uploads while hundreds of idle connections are held open.")

    @Option(help: "Data folder to create (must not exist).") var home: String
    @Option(parsing: .upToNextOption, help: "Idle connections held in each case (the first is the baseline).")
    var idle: [Int] = [0, 500, 2_000]
    @Option(help: "Uploads per case and round.") var uploads = 30
    @Option(help: "Rounds; the cases take turns in each, so drift on the machine touches all alike.") var rounds = 5

    struct CaseResult: Encodable {
        var idleConnections: Int
        var p50Milliseconds: Double
        var p99Milliseconds: Double
        var maxMilliseconds: Double
        var ratioToBaseline: Double
        var stealPercent: Double?
    }

    func validate() throws {
        guard !idle.isEmpty, idle.allSatisfy({ (0...100_000).contains($0) }) else {
            throw ValidationError("--idle takes counts from 0 to 100000")
        }
        guard uploads >= 1, rounds >= 1 else { throw ValidationError("--uploads and --rounds must be at least 1") }
    }

    func run() async throws {
        let folder = URL(fileURLWithPath: home)
        guard !FileManager.default.fileExists(atPath: folder.path) else {
            throw ValidationError("--home \(home) exists; give a new folder")
        }
        let logger = Logger(label: "vigil-bench") { _ in SwiftLogNoOpLogHandler() }
        let samples = Detector.Configuration.defaultModelFolder().appendingPathComponent("samples")
        // Real photos, each sent with its own random tail after the JPEG's end: every upload is new bytes, so
        // the store's dedup saves nothing (decoders ignore what follows the end marker).
        let photos = try ["bus.jpg", "zidane.jpg"].map { try Data(contentsOf: samples.appendingPathComponent($0)) }
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        limit.rlim_cur = limit.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        let results = try await Backends.with(
            home: folder, configuration: StoreConfiguration(), create: true, logger: logger
        ) {
            backends in
            let store = backends.store
            let engine = try backends.engineEnvironment(stages: .vigil)
            try await store.createRepo("images", description: "camera frames as uploaded")
            let access = try backends.access()
            let token = try await access.createToken(name: "cam", role: .device, device: "cam", at: Date()).token
            let server = try ServerEnvironment.benchmark(backends, engine: engine, access: access, logger: logger)
            let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
            let app = VigilAPI.application(server) { portSink.yield($0) }
            let client = HTTPClient(eventLoopGroupProvider: .singleton)
            defer { _ = client.shutdown() }
            return try await withThrowingTaskGroup(of: [CaseResult]?.self) { group in
                group.addTask {
                    try await app.run()
                    return nil
                }
                var iterator = ports.makeAsyncIterator()
                guard let port = await iterator.next() else { throw CancellationError() }
                var held = HeldConnections(port: port)
                defer { held.closeAll() }
                var latencies = [[Double]](repeating: [], count: idle.count)
                var roundMedians = [[Double]](repeating: [], count: idle.count)
                var steal = [Double](repeating: 0, count: idle.count)
                var sequence: Int64 = 1_700_000_000
                for round in 1...rounds {
                    for (index, count) in idle.enumerated() {
                        try held.hold(count)
                        let meter = StealMeter()
                        var times: [Double] = []
                        for _ in 0..<uploads {
                            sequence += 1
                            var frame = photos[Int(sequence) % photos.count]
                            frame.append(contentsOf: (0..<32).map { _ in UInt8.random(in: 0...255) })
                            times.append(
                                try await Self.upload(
                                    frame, name: "cam-\(sequence).jpg", port: port, token: token, client: client))
                        }
                        latencies[index] += times
                        roundMedians[index].append(median(times))
                        steal[index] += meter.percent ?? 0
                        report(
                            String(
                                format: "round %d, %5d idle connections: %d uploads, p50 %.2f ms", round, count,
                                uploads,
                                median(times)))
                    }
                }
                let baseline = median(roundMedians[0])
                let results = idle.enumerated().map { index, count in
                    CaseResult(
                        idleConnections: count, p50Milliseconds: median(roundMedians[index]),
                        p99Milliseconds: percentile(latencies[index], 99), maxMilliseconds: latencies[index].max() ?? 0,
                        ratioToBaseline: median(roundMedians[index]) / baseline,
                        stealPercent: steal[index] / Double(rounds))
                }
                for result in results {
                    report(
                        String(
                            format:
                                "%5d idle connections: upload answered p50 %.2f ms (median of %d rounds), p99 %.2f ms, "
                                + "max %.2f ms; %.2f× the baseline%@", result.idleConnections, result.p50Milliseconds,
                            rounds, result.p99Milliseconds, result.maxMilliseconds, result.ratioToBaseline,
                            stealNote(result.stealPercent)))
                }
                group.cancelAll()
                return results
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(String(decoding: try encoder.encode(results), as: UTF8.self))
    }

    /// Milliseconds from sending an upload on a connection of its own to its 201.
    static func upload(_ frame: Data, name: String, port: Int, token: String, client: HTTPClient) async throws -> Double
    {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/images/\(name)")
        request.method = .PUT
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.headers.add(name: "Connection", value: "close")
        request.body = .bytes(ByteBuffer(bytes: frame))
        let start = ContinuousClock.now
        let response = try await client.execute(request, timeout: .seconds(30))
        _ = try await response.body.collect(upTo: 1 << 20)
        let elapsed = ContinuousClock.now - start
        guard response.status == .created else {
            throw ValidationError("upload \(name) answered \(response.status.code)")
        }
        return milliseconds(elapsed)
    }
}

/// TCP connections to the server that send nothing (even ones) or half a request head (odd ones), then wait.
struct HeldConnections {
    let port: Int
    private(set) var sockets: [Int32] = []

    init(port: Int) { self.port = port }

    mutating func hold(_ count: Int) throws {
        while sockets.count > count { close(sockets.removeLast()) }
        while sockets.count < count {
            let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard socket >= 0, connected == 0 else {
                throw ValidationError("cannot open idle connection \(sockets.count + 1): errno \(errno)")
            }
            if sockets.count % 2 == 1 {
                let head = "PUT /v1/images/cam-1.jpg HTTP/1.1\r\nHost: 12"
                _ = head.withCString { send(socket, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
            }
            sockets.append(socket)
        }
    }

    mutating func closeAll() { try? hold(0) }
}
