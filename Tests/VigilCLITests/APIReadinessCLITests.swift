import Foundation
import ServerTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

extension ProcessTests {
    /// The API's own readiness probe (`GET /readyz`, what deploy/kubernetes asks of `vigil serve`): ready only
    /// while its blob store answers too, alive all the while.
    @Suite(
        "Readiness of the API on S3", .enabled(if: SeaweedServer.canRun, Comment(rawValue: SeaweedServer.skipReason)))
    struct APIReadinessCLITests {
        @Test func theAPIIsReadyOnlyWhileItsBlobStoreAnswers() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            // A server of the test's own: it is killed and started again.
            let seaweed = try SeaweedServer(directory: root.appendingPathComponent("weed"))
            try await seaweed.start()
            defer { seaweed.kill() }
            let (vigil, _) = try await S3CLITests().makeVigil(root, server: seaweed)
            let api = try await SharedDeploymentCLITests.serve(vigil, name: "api", root: root, options: [])
            defer { if api.process.isRunning { kill(api.process.processIdentifier, SIGKILL) } }

            let ready = try #require(try await ProbesCLITests.waitFor(200, api.port, "/readyz"))
            #expect(ready.status == "ready" && ready.checks.map(\.name) == ["metadata", "blobs"])

            seaweed.kill()
            let down = try #require(try await ProbesCLITests.waitFor(503, api.port, "/readyz"))
            #expect(down.status == "not ready")
            #expect(down.checks.first { $0.name == "blobs" }?.ok == false, "\(down.checks)")
            #expect(down.checks.contains { $0.name == "metadata" && $0.ok })
            // An outage of S3 is waited out, not a reason to restart the API.
            #expect(await ProbesCLITests.get(api.port, "/healthz")?.0 == 200)
            #expect(api.process.isRunning)

            try await seaweed.start()
            #expect(try await ProbesCLITests.waitFor(200, api.port, "/readyz")?.status == "ready")
            #expect(try await api.stopped() == 0)
        }
    }
}
