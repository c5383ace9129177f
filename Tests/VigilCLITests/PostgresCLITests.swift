import Foundation
import Logging
import ServerTestSupport
import Testing
import VigilStore

#if canImport(Glibc)
    import Glibc
#endif

extension ProcessTests {
    /// `vigil` with its metadata on a real PostgreSQL and its blobs on a real SeaweedFS: what a deployment on
    /// many hosts looks like, with data folders that hold nothing shared.
    @Suite(
        "vigil on PostgreSQL", .serialized,
        .enabled(if: PostgresServer.canRun, Comment(rawValue: PostgresServer.skipReason)),
        .enabled(if: SeaweedServer.canRun, Comment(rawValue: SeaweedServer.skipReason)))
    struct PostgresCLITests {
        static let logger = Logger(label: "postgres-cli-test") { _ in SwiftLogNoOpLogHandler() }

        struct Entry: Decodable {
            var name: String
        }

        struct Repo: Decodable {
            var name: String
        }

        /// A fresh database and bucket, and the environment every host needs for them: the credentials, and
        /// the locations as `VIGIL_*` variables.
        func deployment() async throws -> (url: String, store: String, endpoint: String, environment: [String: String])
        {
            let postgres = try await PostgresServer.shared()
            let seaweed = try await SeaweedServer.shared()
            let bucket = try await seaweed.makeBucket(logger: Self.logger)
            let url = postgres.url(database: try await postgres.makeDatabase())
            let store = "s3://\(bucket.bucket)/vigil"
            var environment = seaweed.environment.merging(postgres.environment) { $1 }
            environment["VIGIL_DATABASE_URL"] = url
            environment["VIGIL_STORE"] = store
            environment["VIGIL_S3_ENDPOINT"] = seaweed.endpoint.absoluteString
            return (url, store, seaweed.endpoint.absoluteString, environment)
        }

        @Test func twoDataFoldersShareOneDatabaseAndBucket() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let (url, store, endpoint, shared) = try await deployment()
            // Host A has only the credentials, and records its settings with `init`.
            let environment = shared.filter { !$0.key.hasPrefix("VIGIL_") }

            let first = VigilProcess(home: root.appendingPathComponent("a"), environment: environment)
            let initialised = try await first.run([
                "init", "--database", url, "--store", store, "--s3-endpoint", endpoint,
            ])
            #expect(initialised.status == 0, "\(initialised.error)")
            let recorded = try StoreConfiguration.read(home: first.home)
            #expect(recorded.database == url)
            let config = try String(contentsOf: first.home.appendingPathComponent("config.json"), encoding: .utf8)
            #expect(!config.contains(PostgresServer.password))
            // No database file in the data folder: the metadata is in PostgreSQL.
            #expect(!FileManager.default.fileExists(atPath: first.home.appendingPathComponent("metadata.sqlite").path))

            try await first.run(["repo", "create", "images"])
            let frames = root.appendingPathComponent("frames")
            try makeFrames(in: frames, count: 12, tag: "pg")
            #expect(try await first.run(["put", "images", frames.path]).status == 0)

            // Host B has an empty data folder and only the environment: it sees and adds to the same data.
            let second = VigilProcess(home: root.appendingPathComponent("b"), environment: shared)
            #expect(try await second.json([Repo].self, ["repo", "list"]).map(\.name) == ["images"])
            #expect(try await second.json([Entry].self, ["ls", "images"]).count == 12)
            let more = root.appendingPathComponent("more")
            try makeFrames(in: more, count: 3, tag: "pg-b")
            let put = try await second.run(["put", "images", more.path])
            #expect(put.status == 0, "\(put.error)")
            #expect(try await first.json([Entry].self, ["ls", "images"]).count == 12)  // same names: overwritten
            #expect(try await first.run(["cat", "images:/cam1-1700000001.jpg"]).output.hasPrefix("pg-b frame 1 "))
            #expect(try await first.run(["log", "images"]).output.split(separator: "\n").count >= 2)
            let check = try await second.run(["fsck"])
            #expect(check.status == 0, "\(check.error)")

            // Tokens and the audit log are shared too: made on one host, listed and revoked on the other.
            struct Token: Decodable {
                var id: String
                var revoked: Date?
            }
            #expect(try await first.run(["token", "create", "--role", "operator", "--name", "ops"]).status == 0)
            let listed = try await second.json([Token].self, ["token", "list"])
            #expect(listed.count == 1)
            #expect(try await second.run(["token", "revoke", try #require(listed.first).id]).status == 0)
            #expect(try await first.json([Token].self, ["token", "list"]).first?.revoked != nil)
        }

        @Test func anEngineOnAnotherHostHearsOfEachCommitAndRecordsItsJobsInTheDatabase() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let environment = try await deployment().environment
            let operatorHost = VigilProcess(home: root.appendingPathComponent("operator"), environment: environment)
            let workerHost = VigilProcess(home: root.appendingPathComponent("worker"), environment: environment)
            #expect(try await operatorHost.run(["repo", "create", "images"]).status == 0)
            let spec = root.appendingPathComponent("copy.yaml")
            try Data("{name: copies, input: {pfs: {repo: images, glob: /*}}, transform: {stage: copy}}".utf8).write(
                to: spec)
            #expect(try await operatorHost.run(["pipeline", "create", spec.path]).status == 0)

            // The engine runs on the worker host; commits made on the operator's reach it by LISTEN/NOTIFY.
            let engine = try workerHost.start(["engine"], errorLog: root.appendingPathComponent("engine.log"))
            defer { if engine.isRunning { kill(engine.processIdentifier, SIGKILL) } }
            for round in 0..<3 {
                let frames = root.appendingPathComponent("frames\(round)")
                try makeFrames(in: frames, count: 2, tag: "r\(round)")
                #expect(try await operatorHost.run(["put", "images:/r\(round)", frames.path]).status == 0)
                let arrived = try await eventually(20) {
                    try await operatorHost.json([Entry].self, ["ls", "copies"]).count == round + 1
                }
                let log = (try? String(contentsOf: root.appendingPathComponent("engine.log"), encoding: .utf8)) ?? ""
                #expect(arrived, "round \(round): the engine did not process the new commit: \(log)")
            }
            kill(engine.processIdentifier, SIGTERM)
            try await waitForExit(of: engine)
            #expect(engine.terminationStatus == 0)
            // The jobs are in the database: the operator's host lists them.
            struct Job: Decodable {
                var state: String
            }
            let jobs = try await operatorHost.json([Job].self, ["job", "list"])
            #expect(jobs.count == 3)
            #expect(jobs.allSatisfy { $0.state == "finished" })
        }

        /// Runs one of PostgreSQL's client programs (`pg_dump`, `pg_restore`) against the test server.
        @discardableResult
        static func postgresTool(_ name: String, _ arguments: [String], server: PostgresServer) throws -> String {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: PostgresServer.binDirectory + "/" + name)
            process.arguments = ["-h", "127.0.0.1", "-p", "\(server.port)", "-U", PostgresServer.user] + arguments
            process.environment = ProcessInfo.processInfo.environment.merging(server.environment) { $1 }
            let errors = Pipe()
            process.standardError = errors
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw CLIFailure(
                    arguments: [name] + arguments,
                    result: .init(status: process.terminationStatus, output: "", error: text))
            }
            return text
        }

        /// DEPLOY.md's backup and restore, as written there: `pg_dump -Fc`, `pg_restore` into an empty database,
        /// the processes pointed at it, `vigil fsck`.
        @Test func aDumpRestoredIntoAnEmptyDatabaseHoldsEverythingAndTakesNewCommits() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let postgres = try await PostgresServer.shared()
            let (url, _, _, environment) = try await deployment()
            let source = try #require(URL(string: url)?.lastPathComponent)
            let host = VigilProcess(home: root.appendingPathComponent("a"), environment: environment)
            #expect(try await host.run(["repo", "create", "images"]).status == 0)
            let frames = root.appendingPathComponent("frames")
            try makeFrames(in: frames, count: 8, tag: "backup")
            #expect(try await host.run(["put", "images", frames.path]).status == 0)
            #expect(try await host.run(["token", "create", "--role", "operator", "--name", "ops"]).status == 0)
            let listed = try await host.json([Entry].self, ["ls", "images"]).map(\.name)

            let dump = root.appendingPathComponent("vigil.dump")
            _ = try await blockingWork {
                try Self.postgresTool("pg_dump", ["-Fc", "-d", source, "-f", dump.path], server: postgres)
            }
            let restored = try await postgres.makeDatabase()
            _ = try await blockingWork {
                try Self.postgresTool("pg_restore", ["-d", restored, dump.path], server: postgres)
            }

            var pointed = environment
            pointed["VIGIL_DATABASE_URL"] = postgres.url(database: restored)
            let other = VigilProcess(home: root.appendingPathComponent("b"), environment: pointed)
            let check = try await other.run(["fsck"])
            #expect(check.status == 0, "\(check.output) \(check.error)")
            #expect(try await other.json([Entry].self, ["ls", "images"]).map(\.name) == listed)
            struct Token: Decodable {
                var name: String
            }
            #expect(try await other.json([Token].self, ["token", "list"]).map(\.name) == ["ops"])
            // The restored database goes on: a new commit lands on the restored head.
            let more = root.appendingPathComponent("more")
            try makeFrames(in: more, count: 2, tag: "after-restore")
            let put = try await other.run(["put", "images:/later", more.path])
            #expect(put.status == 0, "\(put.error)")
            #expect(try await other.json([Entry].self, ["ls", "images"]).count == listed.count + 1)
        }

        @Test func aDatabaseThatCannotBeUsedFailsInOneLineWithItsCode() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let postgres = try await PostgresServer.shared()
            let vigil = VigilProcess(home: root.appendingPathComponent("home"))
            let cases: [(url: String, password: String?, code: String)] = [
                (postgres.url(database: "postgres"), "not-the-password", "database-auth-failed"),
                (postgres.url(database: "no_such_database"), PostgresServer.password, "database-not-found"),
                (
                    "postgres://vigil@127.0.0.1:\(try LocalPorts.free(1)[0])/cameras?sslmode=disable", nil,
                    "database-unavailable"
                ),
                ("postgres://vigil:secret-in-url@127.0.0.1/cameras", nil, "bad-configuration"),
                ("mysql://vigil@127.0.0.1/cameras", nil, "bad-configuration"),
            ]
            for (url, password, code) in cases {
                var process = vigil
                if let password { process.environment["PGPASSWORD"] = password }
                let result = try await process.run(["init", "--database", url])
                #expect(result.status != 0)
                #expect(result.error.contains("[\(code)]"), "\(url): \(result.error)")
                #expect(result.error.split(separator: "\n").count == 1, "\(result.error)")
                #expect(!result.error.contains("not-the-password"))
                #expect(!result.error.contains("secret-in-url"))
            }
        }
    }
}
