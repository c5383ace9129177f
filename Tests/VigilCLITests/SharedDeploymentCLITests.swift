import Foundation
import Logging
import ServerTestSupport
import Testing
import VigilStore

#if canImport(Glibc)
    import Glibc
#endif

extension ProcessTests {
    /// Two `vigil serve` processes, as on two hosts: separate, empty data folders, one PostgreSQL database and
    /// one SeaweedFS bucket, each running the API, the pipelines and the notifier, one alert API. What one
    /// takes in the other shows; each alert goes out once; PostgreSQL killed mid-pipeline delays, never loses.
    @Suite(
        "two vigil serve on one database and bucket", .serialized,
        .enabled(if: PostgresServer.canRun, Comment(rawValue: PostgresServer.skipReason)),
        .enabled(if: SeaweedServer.canRun, Comment(rawValue: SeaweedServer.skipReason)))
    struct SharedDeploymentCLITests {
        static let logger = Logger(label: "shared-deployment-test") { _ in SwiftLogNoOpLogHandler() }

        /// A `vigil serve` process and the port it listens on.
        struct Server {
            let process: Process
            let port: Int
            let log: URL

            func stop() -> Int32 {
                guard process.isRunning else { return process.terminationStatus }
                kill(process.processIdentifier, SIGTERM)
                process.waitUntilExit()
                return process.terminationStatus
            }

            /// `stop()`, waiting on a thread of its own.
            func stopped() async throws -> Int32 {
                try await blockingWork { stop() }
            }
        }

        static func serve(
            _ vigil: VigilProcess, name: String, root: URL, sink: String, secret: URL
        ) async throws -> Server {
            try await serve(
                vigil, name: name, root: root,
                options: ["--alert-url", sink, "--alert-secret-file", secret.path, "--alert-claim-lease", "10"])
        }

        /// `vigil serve --port 0 options…`, once it says where it listens; its standard error goes to `name`.log.
        static func serve(_ vigil: VigilProcess, name: String, root: URL, options: [String]) async throws -> Server {
            let log = root.appendingPathComponent("\(name).log")
            let process = try vigil.start(["serve", "--port", "0"] + options, errorLog: log)
            var port: Int?
            _ = try await eventually(60) {
                let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                port = text.firstMatch(of: /listening on http:\/\/127\.0\.0\.1:([0-9]+)\//).flatMap { Int($0.1) }
                return port != nil || !process.isRunning
            }
            guard let port else {
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                throw CLIFailure(arguments: ["serve"], result: .init(status: -1, output: "", error: text))
            }
            return Server(process: process, port: port, log: log)
        }

        /// One HTTP/1.1 request on its own connection; the status and the body.
        static func request(
            port: Int, _ method: String, _ path: String, token: String, body: Data = Data()
        ) throws -> (status: Int, body: String, bytes: Data) {
            let connection = try ServeCLITests.Connection(port: port)
            defer { connection.close() }
            let head =
                "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\n"
                + "Content-Type: image/jpeg\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
            connection.send(Data(head.utf8) + body)
            var answer = Data()
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = recv(connection.socket, &buffer, buffer.count, 0)
                if count <= 0 { break }
                answer.append(contentsOf: buffer[..<count])
            }
            let end = answer.firstRange(of: Data("\r\n\r\n".utf8))
            let header = String(decoding: answer[..<(end?.lowerBound ?? answer.endIndex)], as: UTF8.self)
            let status = header.firstMatch(of: /^HTTP\/1\.1 ([0-9]{3})/).flatMap { Int($0.1) } ?? 0
            let bytes = Data(answer[(end?.upperBound ?? answer.endIndex)...])
            return (status, String(decoding: bytes, as: UTF8.self), bytes)
        }

        static let rules = """
            customers:
              - id: acme
                name: Acme Storage Ltd
                contacts: [{name: Ana Lee, email: ana@acme.example}]
                devices: [frontdoor, garage]
                dangerous: {person: 0.5}
            """

        static let specs = [
            "{name: validate, input: {pfs: {repo: images, glob: /*}}, transform: {stage: validate}}",
            "{name: detect, input: {pfs: {repo: validate, glob: /valid/*}}, transform: {stage: detect}}",
            """
            {name: threats, input: {cross: [{pfs: {repo: detect, glob: /*/*}}, \
            {pfs: {repo: rules, glob: /, reprocess: false}}]}, transform: {stage: threats}}
            """,
        ]

        @Test func anUploadThroughOneServerIsAlertedOnceAndSeenThroughTheOtherAndSurvivesPostgresKilled()
            async throws
        {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            // A server of its own, durable, since this test kills it.
            let postgres = try PostgresServer(durable: true)
            try await postgres.start()
            defer { postgres.kill() }
            let seaweed = try await SeaweedServer.shared()
            let bucket = try await seaweed.makeBucket(logger: Self.logger)
            var environment = seaweed.environment.merging(postgres.environment) { $1 }
            environment["VIGIL_DATABASE_URL"] = postgres.url(database: try await postgres.makeDatabase())
            environment["VIGIL_STORE"] = "s3://\(bucket.bucket)/vigil"
            environment["VIGIL_S3_ENDPOINT"] = seaweed.endpoint.absoluteString
            let hostA = VigilProcess(home: root.appendingPathComponent("a"), environment: environment)
            let hostB = VigilProcess(home: root.appendingPathComponent("b"), environment: environment)

            // The operator sets up rules and pipelines from host A.
            let rules = root.appendingPathComponent("rules")
            try FileManager.default.createDirectory(at: rules, withIntermediateDirectories: true)
            try Data(Self.rules.utf8).write(to: rules.appendingPathComponent("customers.yaml"))
            for arguments in [
                ["repo", "create", "images"], ["repo", "create", "rules"], ["put", "rules", rules.path],
            ] {
                let result = try await hostA.run(arguments)
                #expect(result.status == 0, "\(arguments): \(result.error)")
            }
            for (index, spec) in Self.specs.enumerated() {
                let file = root.appendingPathComponent("spec\(index).yaml")
                try Data(spec.utf8).write(to: file)
                let created = try await hostA.run(["pipeline", "create", file.path])
                #expect(created.status == 0, "\(created.error)")
            }
            let camera = try await hostA.run(["token", "create", "--role", "device", "--device", "frontdoor"])
            let garage = try await hostA.run(["token", "create", "--role", "device", "--device", "garage"])
            let admin = try await hostB.run(["token", "create", "--role", "admin", "--name", "ops"])
            let (cameraToken, garageToken, adminToken) = (
                camera.output.trimmingCharacters(in: .whitespacesAndNewlines),
                garage.output.trimmingCharacters(in: .whitespacesAndNewlines),
                admin.output.trimmingCharacters(in: .whitespacesAndNewlines)
            )
            #expect(cameraToken.hasPrefix("vgl_") && adminToken.hasPrefix("vgl_"))

            let secret = root.appendingPathComponent("alert-secret")
            try Data("shared-deployment-secret-0123456789".utf8).write(to: secret)
            let sink = try AlertsCLITests.startSink(hostA, root: root, secret: secret)
            defer { sink.stop() }
            let serverA = try await Self.serve(hostA, name: "serve-a", root: root, sink: sink.url, secret: secret)
            defer { if serverA.process.isRunning { kill(serverA.process.processIdentifier, SIGKILL) } }
            let serverB = try await Self.serve(hostB, name: "serve-b", root: root, sink: sink.url, secret: secret)
            defer { if serverB.process.isRunning { kill(serverB.process.processIdentifier, SIGKILL) } }
            func logs() -> String {
                [serverA.log, serverB.log].map { (try? String(contentsOf: $0, encoding: .utf8))?.suffix(3_000) ?? "" }
                    .joined(separator: "\n----\n")
            }

            // A camera uploads one frame through A: it is judged and alerted once, and B shows it.
            let samples = VisionCLITests.samples
            let bus = try Data(contentsOf: samples.appendingPathComponent("bus.jpg"))
            let zidane = try Data(contentsOf: samples.appendingPathComponent("zidane.jpg"))
            let upload = try Self.request(
                port: serverA.port, "PUT", "/v1/images/frontdoor-1763800000.jpg", token: cameraToken, body: bus)
            #expect(upload.status == 201, "\(upload.body)")
            #expect(try await eventually(90) { try sink.keys().count == 1 }, "no alert came: \(logs())")
            try await Task.sleep(for: .seconds(2))
            #expect(try sink.keys().count == 1)
            let listed = try Self.request(port: serverB.port, "GET", "/v1/alerts", token: adminToken)
            #expect(listed.status == 200)
            #expect(listed.body.contains("frontdoor-1763800000.jpg"), "\(listed.body)")
            // Both servers apply retention on a schedule, in turns: at start one of them walked history, not both.
            let turns = try [serverA.log, serverB.log].map { log in
                try String(contentsOf: log, encoding: .utf8)
                    .components(separatedBy: "applying retention: this server's turn").count - 1
            }
            #expect(turns.reduce(0, +) == 1, "\(turns)")
            let image = try Self.request(
                port: serverB.port, "GET", "/v1/repos/images/files/frontdoor-1763800000.jpg", token: adminToken)
            #expect(image.status == 200 && image.bytes == bus, "\(image.status) \(image.body.prefix(300))")

            // Three more frames through B, then PostgreSQL dies mid-pipeline and comes back: every frame is
            // alerted, once.
            let frames: [(String, Data, String)] = [
                ("frontdoor-1763800100.jpg", zidane, cameraToken), ("garage-1763800200.jpg", bus, garageToken),
                ("garage-1763800300.jpg", zidane, garageToken),
            ]
            for (name, bytes, token) in frames {
                let sent = try Self.request(port: serverB.port, "PUT", "/v1/images/\(name)", token: token, body: bytes)
                #expect(sent.status == 201, "\(name): \(sent.body)")
            }
            // The frames are committed and still in the pipeline (not yet alerted) when the server dies.
            let alertedBefore = try sink.keys().count
            postgres.kill()
            #expect(alertedBefore < 4)
            try await Task.sleep(for: .seconds(3))
            try await postgres.start()
            #expect(
                try await eventually(180) { try sink.keys().count >= 4 }, "alerts missing after the outage: \(logs())")
            try await Task.sleep(for: .seconds(3))
            let keys = try sink.keys()
            #expect(keys.count == 4, "\(keys)")
            #expect(Set(keys).count == keys.count)

            // Both stop gracefully; the store is whole; both hosts list the same four alerts.
            #expect(try await serverA.stopped() == 0)
            #expect(try await serverB.stopped() == 0)
            let check = try await hostB.run(["fsck"])
            #expect(check.status == 0, "\(check.output) \(check.error)")
            struct Alert: Decodable {
                var device: String
            }
            #expect(try await hostA.json([Alert].self, ["alerts", "list"]).count == 4)
            #expect(
                try await hostB.json([Alert].self, ["alerts", "list"]).map(\.device).sorted() == [
                    "frontdoor", "frontdoor", "garage", "garage",
                ])
        }
    }
}
