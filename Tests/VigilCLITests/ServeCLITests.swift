import Foundation
import ServerTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

extension ProcessTests {
    @Suite("vigil serve as a process", .serialized)
    struct ServeCLITests {
        /// A TCP connection to 127.0.0.1:`port` with blocking writes and reads.
        struct Connection {
            let socket: Int32

            init(port: Int) throws {
                socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                let connected = LocalPorts.withLoopback(port: port) { [socket] in connect(socket, $0, $1) }
                guard socket >= 0, connected == 0 else {
                    throw CLIFailure(arguments: ["connect"], result: .init(status: errno, output: "", error: ""))
                }
            }

            func send(_ data: Data) {
                data.withUnsafeBytes { raw in
                    var offset = 0
                    while offset < raw.count {
                        let sent = Glibc.send(
                            socket, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                        if sent <= 0 { return }
                        offset += sent
                    }
                }
            }

            /// Everything until the server closes or `limit` bytes.
            func receive(limit: Int = 1 << 16) -> String {
                var out = Data()
                var buffer = [UInt8](repeating: 0, count: 4096)
                while out.count < limit {
                    let count = recv(socket, &buffer, buffer.count, 0)
                    if count <= 0 { break }
                    out.append(contentsOf: buffer[..<count])
                    if String(decoding: out, as: UTF8.self).contains("\r\n\r\n{") { break }
                }
                return String(decoding: out, as: UTF8.self)
            }

            /// Whether the server sent something (or closed) within `seconds`.
            func isReadable(within seconds: Double) -> Bool {
                var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
                return poll(&descriptor, 1, Int32(seconds * 1_000)) > 0
            }

            func close() { _ = Glibc.close(socket) }
        }

        @Test func aGracefulStopLetsAnUploadInFlightFinishAndCommit() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let vigil = VigilProcess(home: root.appendingPathComponent("home"))
            try await vigil.run(["init"])
            let token = try await vigil.run(["token", "create", "--role", "device", "--device", "cam"]).output
                .trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(token.hasPrefix("vgl_"))

            let serve = Process()
            serve.executableURL = VigilProcess.binary
            serve.arguments = ["serve", "--port", "0", "--home", vigil.home.path]
            let errors = Pipe()
            serve.standardError = errors
            serve.standardOutput = FileHandle.nullDevice
            try serve.run()
            var text = ""
            while !text.contains("vigil serve: listening") {
                let chunk = errors.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                text += String(decoding: chunk, as: UTF8.self)
            }
            let port = try #require(
                text.firstMatch(of: /listening on http:\/\/127\.0\.0\.1:([0-9]+)\//).flatMap { Int($0.1) }, "\(text)")

            // A JPEG body of 200 KB, sent in two halves with a SIGTERM between them.
            let body = Data([0xFF, 0xD8, 0xFF, 0xE0]) + Data(repeating: 0x42, count: 200_000)
            let connection = try Connection(port: port)
            defer { connection.close() }
            let head =
                "PUT /v1/images/cam-1700000000.jpg HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\n"
                + "Content-Type: image/jpeg\r\nContent-Length: \(body.count)\r\n\r\n"
            connection.send(Data(head.utf8) + body.prefix(100_000))
            usleep(300_000)
            kill(serve.processIdentifier, SIGTERM)
            usleep(500_000)
            #expect(serve.isRunning, "vigil serve quit with an upload half-way in")
            connection.send(body.dropFirst(100_000))
            let answer = try await blockingWork { connection.receive() }
            #expect(answer.hasPrefix("HTTP/1.1 201"), "\(answer)")
            try await waitForExit(of: serve)
            #expect(serve.terminationStatus == 0)

            struct Entry: Decodable {
                struct Value: Decodable { var size: Int }
                var name: String
                var value: Value
            }
            let listed = try await vigil.json([Entry].self, ["ls", "images:/"])
            #expect(listed.map(\.name) == ["cam-1700000000.jpg"])
            #expect(listed.first?.value.size == body.count)
            #expect(try await vigil.run(["fsck"]).status == 0)
        }
    }
}
