import Foundation
import ServerTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

extension ProcessTests {
    /// `vigil worker` and `--no-workers` given what they cannot work with: one line saying what is wrong.
    @Suite("vigil worker, bad input", .enabled(if: PostgresServer.canRun, Comment(rawValue: PostgresServer.skipReason)))
    struct WorkerCLITests {
        /// A data folder on a fresh database (blobs in the folder: these cases never get as far as a datum).
        func shared(_ root: URL) async throws -> (VigilProcess, PostgresServer, String) {
            let postgres = try await PostgresServer.shared()
            let (vigil, database) = try await VigilProcess.onNewDatabase(of: postgres, root: root)
            return (vigil, postgres, database)
        }

        /// The repo `images` and a pipeline `copies` of it.
        static func createCopies(with vigil: VigilProcess, in root: URL) async throws {
            let spec = root.appendingPathComponent("copy.yaml")
            try Data("{name: copies, input: {pfs: {repo: images, glob: /*}}, transform: {stage: copy}}".utf8)
                .write(to: spec)
            #expect(try await vigil.run(["repo", "create", "images"]).status == 0)
            #expect(try await vigil.run(["pipeline", "create", spec.path]).status == 0)
        }

        static func oneLine(_ result: VigilProcess.Result, saying code: String, printed: String? = nil) {
            #expect(result.status == 1)
            let lines = result.error.split(separator: "\n")
            #expect(lines.count == 1, "\(result.error.debugDescription)")
            #expect(result.error.contains("[\(code)]"), "\(result.error)")
        }

        @Test func aWorkerForAPipelineThatDoesNotExistSaysSo() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let (vigil, _, _) = try await shared(root)
            let result = try await vigil.run(["worker", "--pipeline", "detcet"])
            Self.oneLine(result, saying: "pipeline-not-found")
            #expect(result.error.contains("detcet"))
        }

        @Test func aSecondLiveWorkerWithTheSameNameIsRefused() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let (vigil, _, _) = try await shared(root)
            try await Self.createCopies(with: vigil, in: root)
            let first = try vigil.start(
                ["worker", "--pipeline", "copies", "--name", "gpu-1"],
                errorLog: root.appendingPathComponent("first.log"))
            defer { kill(first.processIdentifier, SIGKILL) }
            struct Worker: Decodable {
                struct Record: Decodable { var name: String }
                var worker: Record
            }
            #expect(try await eventually(30) { try await vigil.json([Worker].self, ["worker", "list"]).count == 1 })
            let second = try await vigil.run(["worker", "--pipeline", "copies", "--name", "gpu-1"])
            Self.oneLine(second, saying: "worker-name-taken")
            #expect(second.error.contains("gpu-1"))
            #expect(first.isRunning)
            // Stopped gracefully, it leaves the list.
            kill(first.processIdentifier, SIGTERM)
            try await waitForExit(of: first)
            #expect(first.terminationStatus == 0)
            #expect(try await vigil.json([Worker].self, ["worker", "list"]).isEmpty)
        }

        @Test func untilIdleRunsQueuedDatumsInItsOwnProcess() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let (vigil, _, _) = try await shared(root)
            try await Self.createCopies(with: vigil, in: root)
            let frames = root.appendingPathComponent("frames")
            try makeFrames(in: frames, count: 3, tag: "idle")
            #expect(try await vigil.run(["put", "images", frames.path]).status == 0)
            // No worker runs anywhere: the command runs the queued datums itself, and leaves no worker behind.
            let ran = try await vigil.run(["engine", "--until-idle"])
            #expect(ran.status == 0, "\(ran.error)")
            struct Entry: Decodable { var name: String }
            #expect(try await vigil.json([Entry].self, ["ls", "copies"]).count == 3)
            struct Worker: Decodable {}
            #expect(try await vigil.json([Worker].self, ["worker", "list"]).isEmpty)
            let again = try await vigil.run(["pipeline", "run", "copies"])
            #expect(again.status == 0, "\(again.error)")
            struct Job: Decodable { var state: String }
            let jobs = try await vigil.json([Job].self, ["job", "list", "--pipeline", "copies"])
            #expect(jobs.count == 2 && jobs.allSatisfy { $0.state == "finished" })
        }

        @Test func aWorkerOlderThanTheDatabasesSchemaIsRefusedBeforeItTouchesIt() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let (vigil, postgres, database) = try await shared(root)
            #expect(try await vigil.run(["repo", "list"]).status == 0)
            try await postgres.psql("UPDATE vigil_schema SET version = 99 WHERE component = 'jobs'", database: database)
            let result = try await vigil.run(["worker", "--pipeline", "detect"])
            Self.oneLine(result, saying: "schema-too-new")
        }

        @Test func rolesThatNeedASharedDatabaseSayHowToGiveOne() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let embedded = VigilProcess(home: root.appendingPathComponent("home"))
            #expect(try await embedded.run(["init"]).status == 0)
            for arguments in [["worker", "--pipeline", "detect"], ["worker", "list"], ["engine", "--no-workers"]] {
                let result = try await embedded.run(arguments)
                Self.oneLine(result, saying: "bad-configuration")
                #expect(result.error.contains("--database"))
            }
            let bad = try await embedded.run(["worker", "--pipeline", "detect", "--concurrency", "0"])
            #expect(bad.status != 0)
            #expect(bad.error.contains("--concurrency"))
        }
    }
}
