import Foundation
import ServerTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

extension ProcessTests {
    /// `vigil serve` against clients that hold connections, trickle bytes or never finish: none of them keeps
    /// a camera's upload waiting or a stop from ending.
    @Suite("vigil serve under slow and idle clients", .serialized)
    struct ServeLimitsCLITests {
        typealias Connection = ServeCLITests.Connection

        /// A data folder with a device token for `cam`.
        static func prepare(_ root: URL) async throws -> (VigilProcess, token: String) {
            let vigil = VigilProcess(home: root.appendingPathComponent("home"))
            try await vigil.run(["init"])
            let token = try await vigil.run(["token", "create", "--role", "device", "--device", "cam"]).output
                .trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(token.hasPrefix("vgl_"))
            return (vigil, token)
        }

        static func uploadHead(_ name: String, token: String, length: Int) -> Data {
            Data(
                ("PUT /v1/images/\(name) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\n"
                    + "Content-Type: image/jpeg\r\nContent-Length: \(length)\r\n\r\n").utf8)
        }

        static var frame: Data {
            get throws { try Data(contentsOf: VisionCLITests.samples.appendingPathComponent("bus.jpg")) }
        }

        /// Runs a system command; its exit status.
        static func shell(_ arguments: String...) throws -> Int32 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = arguments
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            return process.terminationStatus
        }

        /// What the images repo holds.
        static func imageNames(_ vigil: VigilProcess) async throws -> [String] {
            struct Entry: Decodable { var name: String }
            return try await vigil.json([Entry].self, ["ls", "images:/"]).map(\.name)
        }

        /// A frame uploaded on a new connection: the answer, and the seconds from sending to the answer.
        static func timedUpload(port: Int, token: String) throws -> (String, Double) {
            let frame = try Self.frame
            let upload = try Connection(port: port)
            defer { upload.close() }
            return Self.timed {
                upload.send(Self.uploadHead("cam-1700000000.jpg", token: token, length: frame.count) + frame)
                return upload.receive()
            }
        }

        /// Seconds `body` took.
        static func timed<T>(_ body: () throws -> T) rethrows -> (T, Double) {
            let start = ContinuousClock.now
            let value = try body()
            let elapsed = ContinuousClock.now - start
            return (value, Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
        }

        @Test func fiveHundredIdleConnectionsDoNotKeepAnUploadWaiting() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let (vigil, token) = try await Self.prepare(root)
            let server = try await SharedDeploymentCLITests.serve(vigil, name: "serve", root: root, options: [])
            defer { _ = server.stop() }
            // Half never say a word, half stop in the middle of a request's head.
            var idle: [Connection] = []
            defer { idle.forEach { $0.close() } }
            for index in 0..<500 {
                let connection = try Connection(port: server.port)
                if index % 2 == 1 { connection.send(Data("PUT /v1/images/cam-1.jpg HTTP/1.1\r\nHost: 12".utf8)) }
                idle.append(connection)
            }
            let (answer, seconds) = try await blockingWork { try Self.timedUpload(port: server.port, token: token) }
            #expect(answer.hasPrefix("HTTP/1.1 201"), "\(answer.prefix(300))")
            // Far below the 60 s idle timeout that would free a slot; the benchmark measures the real figure.
            #expect(seconds < 10, "the upload waited \(seconds) s behind 500 idle connections")
            // The idle ones were really held open all along: the first still answers.
            let first = idle[0]
            first.send(Data("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8))
            #expect(try await blockingWork { first.receive() }.hasPrefix("HTTP/1.1 200"))
        }

        @Test func aSilentConnectionIsClosedAndATrickledUploadTimesOutWithNothingCommitted() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let (vigil, token) = try await Self.prepare(root)
            let server = try await SharedDeploymentCLITests.serve(
                vigil, name: "serve", root: root, options: ["--idle-timeout", "1", "--body-timeout", "2"])
            defer { _ = server.stop() }

            let silent = try Connection(port: server.port)
            defer { silent.close() }
            let halfHead = try Connection(port: server.port)
            defer { halfHead.close() }
            halfHead.send(Data("GET /healthz HTTP/1.1\r\nHo".utf8))
            let (closed, seconds) = try await blockingWork { Self.timed { (silent.receive(), halfHead.receive()) } }
            #expect(closed.0.isEmpty && closed.1.isEmpty, "\(closed)")
            #expect(seconds >= 0.5 && seconds < 10, "closed after \(seconds) s")

            // A byte every 0.3 s is never idle for 1 s, but the whole body may take only 2 s.
            let frame = try Self.frame
            let trickle = try Connection(port: server.port)
            defer { trickle.close() }
            trickle.send(Self.uploadHead("cam-1700000000.jpg", token: token, length: frame.count))
            let (answer, sent) = try await blockingWork {
                var sent = 0
                while sent < 100, !trickle.isReadable(within: 0.3) {
                    trickle.send(frame[sent..<sent + 1])
                    sent += 1
                }
                return (trickle.receive(), sent)
            }
            #expect(answer.hasPrefix("HTTP/1.1 408"), "\(answer.prefix(300))")
            #expect(answer.contains("body-timeout"))
            #expect(sent >= 5 && sent < 100, "\(sent) bytes went before the answer")
            #expect(try await server.stopped() == 0)
            #expect(try await Self.imageNames(vigil) == [])
            #expect(try await vigil.run(["fsck"]).status == 0)
        }

        @Test func pastTheConnectionLimitAnUploadWaitsForAConnectionToClose() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let (vigil, token) = try await Self.prepare(root)
            let server = try await SharedDeploymentCLITests.serve(
                vigil, name: "serve", root: root, options: ["--max-connections", "20", "--idle-timeout", "3"])
            defer { _ = server.stop() }
            let held = try (0..<20).map { _ in try Connection(port: server.port) }
            defer { held.forEach { $0.close() } }
            // Each answers a request first, so all 20 are surely taken in (connections waiting together in the
            // listen queue may be taken in one batch, past the limit), then stays open and silent.
            for connection in held {
                connection.send(Data("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8))
                #expect(try await blockingWork { connection.receive() }.hasPrefix("HTTP/1.1 200"))
            }
            let (answer, seconds) = try await blockingWork { try Self.timedUpload(port: server.port, token: token) }
            // Queued, not refused: served once the idle timeout closed the held ones.
            #expect(answer.hasPrefix("HTTP/1.1 201"), "\(answer.prefix(300))")
            #expect(seconds >= 1.5, "answered after \(seconds) s: the limit of 20 connections did not hold")
        }

        @Test func aStopWaitsForAStalledUploadOnlyAsLongAsTheShutdownTimeout() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let (vigil, token) = try await Self.prepare(root)
            let server = try await SharedDeploymentCLITests.serve(
                vigil, name: "serve", root: root, options: ["--shutdown-timeout", "1"])
            let frame = try Self.frame
            let stalled = try Connection(port: server.port)
            defer { stalled.close() }
            stalled.send(Self.uploadHead("cam-1700000000.jpg", token: token, length: frame.count) + frame.prefix(1_000))
            try await Task.sleep(for: .milliseconds(300))
            // The idle timeout (60 s) would end it much later; the stop ends it after about a second.
            let (status, seconds) = try await blockingWork { Self.timed { server.stop() } }
            #expect(seconds < 15, "the stop took \(seconds) s")
            let log = (try? String(contentsOf: server.log, encoding: .utf8)) ?? ""
            #expect(status == 0, "\(log.suffix(2_000))")
            #expect(try await Self.imageNames(vigil) == [])
            #expect(try await vigil.run(["fsck"]).status == 0)
        }

        @Test func outOfRangeLimitsAreRefusedBeforeServing() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let (vigil, _) = try await Self.prepare(root)
            for options in [
                ["--idle-timeout", "0"], ["--body-timeout", "-1"], ["--shutdown-timeout", "nan"],
                ["--max-connections", "0"], ["--max-image-bytes", "-5"],
            ] {
                let result = try await vigil.run(["serve", "--port", "0"] + options)
                #expect(result.status != 0)
                #expect(result.error.contains(options[0]), "\(options): \(result.error)")
            }
        }
    }
}
