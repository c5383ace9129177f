import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

extension ProcessTests {
    /// schemathesis (pinned by the Makefile, `make test-deps`) against `vigil serve` with data in it: every
    /// operation of the served OpenAPI document, every check and phase, from a fixed seed. Green means the
    /// service answers only what the document says, and takes every request the document says is good.
    @Suite(
        "the served API against its OpenAPI document (schemathesis)", .serialized,
        .enabled(if: Schemathesis.binary != nil, "no schemathesis: `make test-deps` installs it"))
    struct SchemathesisCLITests {
        @Test func everyOperationPassesEveryCheck() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let vigil = VigilProcess(home: root.appendingPathComponent("home"))
            try await vigil.run(["init"])
            // Rules, the three stages, and two photos uploaded and judged: alerts, threats, lineage to find.
            let rules = root.appendingPathComponent("rules")
            try FileManager.default.createDirectory(at: rules, withIntermediateDirectories: true)
            try Data(SharedDeploymentCLITests.rules.utf8).write(to: rules.appendingPathComponent("customers.yaml"))
            for arguments in [
                ["repo", "create", "images"], ["repo", "create", "rules"], ["put", "rules", rules.path],
            ] {
                let result = try await vigil.run(arguments)
                #expect(result.status == 0, "\(arguments): \(result.error)")
            }
            for (index, spec) in SharedDeploymentCLITests.specs.enumerated() {
                let file = root.appendingPathComponent("spec\(index).yaml")
                try Data(spec.utf8).write(to: file)
                #expect(try await vigil.run(["pipeline", "create", file.path]).status == 0)
            }
            let admin = try await vigil.run(["token", "create", "--role", "admin"]).output
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let camera = try await vigil.run(["token", "create", "--role", "device", "--device", "frontdoor"]).output
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let secret = root.appendingPathComponent("alert-secret")
            try Data("schemathesis-run-secret-0123456789".utf8).write(to: secret)
            let sink = try AlertsCLITests.startSink(vigil, root: root, secret: secret)
            defer { sink.stop() }
            // The schemathesis run sends hundreds of requests without a valid token on purpose (its auth checks);
            // the throttle would answer them 429 from the first few on, so it is set out of the way here
            // (SignInThrottleTests cover it).
            let server = try await SharedDeploymentCLITests.serve(
                vigil, name: "serve", root: root,
                options: [
                    "--alert-url", sink.url, "--alert-secret-file", secret.path, "--sign-in-limit", "1000000",
                ])
            defer { _ = server.stop() }
            for (photo, seconds) in [("bus.jpg", 1_763_800_000), ("zidane.jpg", 1_763_800_060)] {
                let bytes = try Data(contentsOf: VisionCLITests.samples.appendingPathComponent(photo))
                let sent = try SharedDeploymentCLITests.request(
                    port: server.port, "PUT", "/v1/images/frontdoor-\(seconds).jpg", token: camera, body: bytes)
                #expect(sent.status == 201, "\(sent.body)")
            }
            #expect(try await eventually(120) { try sink.keys().count == 2 }, "the photos never became alerts")

            let run = Process()
            guard let binary = Schemathesis.binary else {
                Issue.record("schemathesis disappeared while the test ran")
                return
            }
            run.executableURL = binary
            run.arguments = [
                "--config-file",
                Schemathesis.repository.appendingPathComponent("Tests/schemathesis/schemathesis.toml").path,
                "run", "http://127.0.0.1:\(server.port)/openapi.yaml", "--header", "Authorization: Bearer \(admin)",
                "--checks", "all", "--max-examples", "50", "--seed", "1", "--no-color",
            ]
            let output = root.appendingPathComponent("schemathesis.out")
            _ = FileManager.default.createFile(atPath: output.path, contents: nil)
            let handle = try FileHandle(forWritingTo: output)
            // Its example database and reports go to the test's folder, not the checkout.
            run.currentDirectoryURL = root
            run.standardOutput = handle
            run.standardError = handle
            try run.run()
            try await waitForExit(of: run)
            try handle.close()
            let report = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
            #expect(run.terminationStatus == 0, "schemathesis failed:\n\(report.suffix(6_000))")
            #expect(report.contains("Tested: 29"), "\(report.suffix(2_000))")
            #expect(try await server.stopped() == 0)
        }
    }
}

/// Where `make test-deps` put schemathesis (or `$VIGIL_SCHEMATHESIS`).
enum Schemathesis {
    static var repository: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }

    static var binary: URL? {
        let path =
            ProcessInfo.processInfo.environment["VIGIL_SCHEMATHESIS"]
            ?? repository.appendingPathComponent(".deps/schemathesis/bin/st").path
        return FileManager.default.isExecutableFile(atPath: path) ? URL(fileURLWithPath: path) : nil
    }
}
