import Foundation
import ServerTestSupport
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
#if canImport(Glibc)
    import Glibc
#endif

extension ProcessTests {
    /// `--health-port`: the probes Kubernetes asks a worker (deploy/kubernetes): alive while it runs, ready only
    /// while its database and blob store answer.
    @Suite("Probes of a worker", .enabled(if: PostgresServer.canRun, Comment(rawValue: PostgresServer.skipReason)))
    struct ProbesCLITests {
        struct Report: Decodable {
            struct Check: Decodable {
                var name: String
                var ok: Bool
                var error: String?
            }
            var status: String
            var checks: [Check]
        }

        static func get(_ port: Int, _ path: String) async -> (Int, Data)? {
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
            request.timeoutInterval = 10
            guard let (data, response) = try? await URLSession.shared.data(for: request),
                let status = (response as? HTTPURLResponse)?.statusCode
            else { return nil }
            return (status, data)
        }

        /// Polls `path` until it answers `status`; the last report.
        static func waitFor(_ status: Int, _ port: Int, _ path: String) async throws -> Report? {
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline {
                if let (answered, body) = await get(port, path), answered == status {
                    return try JSONDecoder().decode(Report.self, from: body)
                }
                try await Task.sleep(for: .milliseconds(200))
            }
            return nil
        }

        @Test func aWorkerIsReadyOnlyWhileItsDatabaseAnswers() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            // A server of the test's own: it is killed and started again.
            let postgres = try PostgresServer()
            try await postgres.start()
            let (vigil, _) = try await VigilProcess.onNewDatabase(of: postgres, root: root)
            try await WorkerCLITests.createCopies(with: vigil, in: root)
            let port = try LocalPorts.free(1)[0]
            let worker = try vigil.start(
                ["worker", "--pipeline", "copies", "--health-port", "\(port)", "--health-host", "127.0.0.1"],
                errorLog: root.appendingPathComponent("worker.log"))
            defer { kill(worker.processIdentifier, SIGKILL) }

            let ready = try #require(try await Self.waitFor(200, port, "/readyz"))
            #expect(ready.status == "ready" && ready.checks.map(\.name) == ["metadata", "blobs"])
            #expect(!ready.checks.contains { !$0.ok })

            postgres.kill()
            let down = try #require(try await Self.waitFor(503, port, "/readyz"))
            #expect(down.status == "not ready")
            #expect(down.checks.first { $0.name == "metadata" }?.ok == false)
            #expect(down.checks.contains { $0.name == "blobs" && $0.ok })
            // Alive all the while: a database outage is waited out, not a reason to restart the worker.
            #expect(await Self.get(port, "/healthz")?.0 == 200)
            #expect(worker.isRunning)

            try await postgres.start()
            #expect(try await Self.waitFor(200, port, "/readyz")?.status == "ready")
            kill(worker.processIdentifier, SIGTERM)
            try await waitForExit(of: worker)
            #expect(worker.terminationStatus == 0)
            postgres.kill()
        }
    }
}
