import Foundation
import ServerTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

extension ProcessTests {
    /// What KEDA scales each stage's workers on (deploy/kubernetes/base/stage-*.yaml): the queries there, run on
    /// a real Vigil database while datums wait, while workers run them, and after.
    @Suite(
        "Autoscaling queries over Vigil's tables",
        .enabled(if: PostgresServer.canRun, Comment(rawValue: PostgresServer.skipReason)))
    struct AutoscalingCLITests {
        /// Each stage's backlog query, as its ScaledObject gives it to KEDA's PostgreSQL scaler.
        static func queries() throws -> [String: String] {
            let base = SchemaCheck.root.appendingPathComponent("deploy/kubernetes/base")
            var queries: [String: String] = [:]
            for file in try FileManager.default.contentsOfDirectory(atPath: base.path)
            where file.hasPrefix("stage-") && file.hasSuffix(".yaml") {
                let text = try String(contentsOf: base.appendingPathComponent(file), encoding: .utf8)
                let line = try #require(text.split(separator: "\n").first { $0.contains("query: ") })
                let query = line.split(separator: "query: ", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces)
                queries[String(file.dropFirst("stage-".count).dropLast(".yaml".count))] =
                    String(query.dropFirst().dropLast())
            }
            return queries
        }

        @Test func eachStagesBacklogRisesWithItsQueuedDatumsAndFallsAsWorkersRunThem() async throws {
            let queries = try Self.queries()
            #expect(queries.keys.sorted() == ["analytics", "detect", "threats", "validate"])
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let postgres = try await PostgresServer.shared()
            let (vigil, database) = try await VigilProcess.onNewDatabase(of: postgres, root: root)
            func backlog(_ stage: String) async throws -> Int {
                Int(try await postgres.psql(try #require(queries[stage]), database: database).trimmed) ?? -1
            }
            func waitFor(_ stage: String, _ count: Int) async throws -> Bool {
                for _ in 0..<300 {
                    if try await backlog(stage) == count { return true }
                    try await Task.sleep(for: .milliseconds(100))
                }
                return false
            }

            // Two stages with the deployment's names: validate copies the uploads, detect copies validate.
            #expect(try await vigil.run(["repo", "create", "images"]).status == 0)
            for (name, input) in [("validate", "images"), ("detect", "validate")] {
                let spec = root.appendingPathComponent("\(name).yaml")
                try Data("{name: \(name), input: {pfs: {repo: \(input), glob: /*}}, transform: {stage: copy}}".utf8)
                    .write(to: spec)
                #expect(try await vigil.run(["pipeline", "create", spec.path]).status == 0)
            }
            let planner = try vigil.start(
                ["engine", "--no-workers"], errorLog: root.appendingPathComponent("engine.log"))
            defer { kill(planner.processIdentifier, SIGKILL) }
            let frames = root.appendingPathComponent("frames")
            try makeFrames(in: frames, count: 5, tag: "keda")
            #expect(try await vigil.run(["put", "images", frames.path]).status == 0)

            // No worker anywhere: validate's datums wait, and its query says so; detect has nothing yet.
            #expect(try await waitFor("validate", 5))
            for stage in ["detect", "threats", "analytics"] { #expect(try await backlog(stage) == 0, "\(stage)") }

            // A validate worker (what KEDA would start) runs them; detect's backlog appears once they are done.
            let validate = try vigil.start(
                ["worker", "--pipeline", "validate"], errorLog: root.appendingPathComponent("validate.log"))
            defer { kill(validate.processIdentifier, SIGKILL) }
            #expect(try await waitFor("validate", 0))
            #expect(try await waitFor("detect", 5))
            let detect = try vigil.start(
                ["worker", "--pipeline", "detect"], errorLog: root.appendingPathComponent("detect.log"))
            defer { kill(detect.processIdentifier, SIGKILL) }
            #expect(try await waitFor("detect", 0))
            struct Entry: Decodable { var name: String }
            #expect(try await eventually(30) { try await vigil.json([Entry].self, ["ls", "detect"]).count == 5 })
        }
    }
}

extension String {
    fileprivate var trimmed: String { trimmingCharacters(in: .whitespacesAndNewlines) }
}
