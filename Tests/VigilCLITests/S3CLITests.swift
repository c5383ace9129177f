import Foundation
import Logging
import ServerTestSupport
import Synchronization
import Testing
import VigilStore

#if canImport(Glibc)
    import Glibc
#endif

extension ProcessTests {
    /// `vigil` with its blobs on a real SeaweedFS: configuration, errors, a server crash mid-put, ingest from a
    /// bucket, and a pipeline end to end.
    @Suite("vigil on S3", .serialized, .enabled(if: SeaweedServer.canRun, Comment(rawValue: SeaweedServer.skipReason)))
    struct S3CLITests {
        static let logger = Logger(label: "s3-cli-test") { _ in SwiftLogNoOpLogHandler() }

        struct Entry: Decodable {
            var name: String
        }

        /// A data folder initialised with `--store` on a fresh bucket of `server`.
        func makeVigil(_ root: URL, server: SeaweedServer) async throws -> (VigilProcess, S3Configuration) {
            let bucket = try await server.makeBucket(logger: Self.logger)
            let vigil = VigilProcess(home: root.appendingPathComponent("home"), environment: server.environment)
            let initialised = try await vigil.run([
                "init", "--store", "s3://\(bucket.bucket)/vigil", "--s3-endpoint", server.endpoint.absoluteString,
            ])
            #expect(initialised.status == 0, "\(initialised.error)")
            #expect(initialised.output.contains("blobs in s3://\(bucket.bucket)/vigil"))
            var configuration = bucket
            configuration.prefix = "vigil"
            return (vigil, configuration)
        }

        func blobCount(_ configuration: S3Configuration) async throws -> Int {
            var count = 0
            for try await _ in S3BlobStore(configuration: configuration, logger: Self.logger).list() { count += 1 }
            return count
        }

        @Test func initRecordsTheStoreSoLaterCommandsNeedNoFlags() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let server = try await SeaweedServer.shared()
            let (vigil, configuration) = try await makeVigil(root, server: server)
            let recorded = try StoreConfiguration.read(home: vigil.home)
            #expect(recorded.store == "s3://\(configuration.bucket)/vigil")
            #expect(recorded.s3Endpoint == server.endpoint.absoluteString)
            let config = try String(contentsOf: vigil.home.appendingPathComponent("config.json"), encoding: .utf8)
            #expect(!config.contains(SeaweedServer.secretKey))

            try await vigil.run(["repo", "create", "images"])
            let frames = root.appendingPathComponent("frames")
            try makeFrames(in: frames, count: 30, tag: "s3")
            #expect(try await vigil.run(["put", "images", frames.path]).status == 0)
            #expect(try await vigil.json([Entry].self, ["ls", "images"]).count == 30)
            #expect(try await vigil.run(["cat", "images:/cam2-1700000002.jpg"]).output.hasPrefix("s3 frame 2 "))
            #expect(try await vigil.run(["fsck"]).status == 0)
            // 30 frames and the tree's node(s), all in the bucket; nothing in the data folder.
            #expect(try await blobCount(configuration) >= 31)
            #expect(!FileManager.default.fileExists(atPath: vigil.home.appendingPathComponent("blobs").path))
        }

        @Test func wrongCredentialsAMissingBucketAndADeadEndpointEachFailInOneLine() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let server = try await SeaweedServer.shared()
            let (vigil, _) = try await makeVigil(root, server: server)

            var wrong = vigil
            wrong.environment["AWS_SECRET_ACCESS_KEY"] = "not-the-secret"
            let denied = try await wrong.run(["repo", "list"])
            #expect(denied.status != 0)
            #expect(denied.error.contains("SignatureDoesNotMatch (403)"))
            #expect(denied.error.contains("[s3-access-denied]"))
            #expect(!denied.error.contains("not-the-secret"))
            #expect(denied.error.split(separator: "\n").count == 1)

            let other = VigilProcess(home: root.appendingPathComponent("other"), environment: server.environment)
            let missing = try await other.run([
                "init", "--store", "s3://no-such-bucket-vigil/x", "--s3-endpoint", server.endpoint.absoluteString,
            ])
            #expect(missing.status != 0)
            #expect(missing.error.contains("no bucket 'no-such-bucket-vigil'"))
            #expect(missing.error.contains("[s3-bucket-not-found]"))

            let dead = try await other.run(["init", "--store", "s3://anything", "--s3-endpoint", "http://127.0.0.1:1"])
            #expect(dead.status != 0)
            #expect(dead.error.contains("http://127.0.0.1:1 did not answer"))
            #expect(dead.error.contains("[s3-unreachable]"))
        }

        /// SIGKILL the S3 server while `vigil put` of thousands of files runs, start it again on the same folder:
        /// the put rides out the outage on its retries and commits everything, and fsck is clean.
        @Test func restartingTheS3ServerMidPutEndsInARetriedConsistentCommit() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let server = try SeaweedServer(directory: root.appendingPathComponent("weed"))
            try await server.start()
            defer { server.kill() }
            let (vigil, _) = try await makeVigil(root, server: server)
            try await vigil.run(["repo", "create", "images"])
            let frames = root.appendingPathComponent("frames")
            try makeFrames(in: frames, count: 3_000, tag: "restart", size: 2_048)

            let errorLog = root.appendingPathComponent("put.log")
            let put = try vigil.start(["put", "images", frames.path, "--verbose"], errorLog: errorLog)
            // The crash and the restart run on a thread of their own, on time, not on the test's tasks: with the
            // whole suite running, Swift's two cooperative threads can be busy for seconds with other tests.
            let outcome = Mutex<(wasRunning: Bool, restart: (any Error)?)>((false, nil))
            let crash = Thread {
                // Mid-put, not mid-open: opening a store checks it once and fails at once on a dead endpoint (by
                // design), and a loaded machine can take longer than the 400 ms below to get there.
                for _ in 0..<1_500 {
                    let log = (try? String(contentsOf: errorLog, encoding: .utf8)) ?? ""
                    if log.contains("blobs in S3") || !put.isRunning { break }
                    usleep(20_000)
                }
                usleep(400_000)
                let running = put.isRunning
                server.kill()
                usleep(1_000_000)
                do { try server.restartBlocking() } catch { outcome.withLock { $0.restart = error } }
                outcome.withLock { $0.wasRunning = running }
            }
            crash.start()
            try await waitForExit(of: put)
            while crash.isExecuting || !crash.isFinished { try await Task.sleep(for: .milliseconds(20)) }
            let (wasRunning, restart) = outcome.withLock { ($0.wasRunning, $0.restart) }
            #expect(restart == nil, "\(String(describing: restart))")
            let log = (try? String(contentsOf: errorLog, encoding: .utf8)) ?? ""
            #expect(wasRunning, "the put finished before the server was killed; nothing was tested")
            #expect(put.terminationStatus == 0, "\(log.suffix(2_000))")
            #expect(log.contains("S3 request retried"), "the put never had to retry")
            #expect(try await vigil.json([Entry].self, ["ls", "images"]).count == 3_000)
            let check = try await vigil.run(["fsck"])
            #expect(check.status == 0, "\(check.output) \(check.error)")
            #expect(
                try await vigil.run(["cat", "images:/cam4-1700002999.jpg"]).output.hasPrefix("restart frame 2999 "))
        }

        @Test func putFromABucketCopiesEveryObjectAndSkipsWhatIsAlreadyThere() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let server = try await SeaweedServer.shared()
            let (vigil, _) = try await makeVigil(root, server: server)
            try await vigil.run(["repo", "create", "images"])
            // The camera uploads: 1,100 objects (more than one list page), two levels deep.
            let uploads = try await server.makeBucket(logger: Self.logger)
            let client = S3Client(configuration: uploads, logger: Self.logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<1_100 {
                    group.addTask {
                        let folder = index < 1_000 ? "site-a" : "site-a/late"
                        try await Self.upload(
                            client, key: "\(folder)/cam1-\(1_700_000_000 + index).jpg", Data("upload \(index)".utf8))
                    }
                    if index % 16 == 15 { try await group.waitForAll() }
                }
                try await group.waitForAll()
            }
            try await Self.upload(client, key: "elsewhere/cam9-1700000000.jpg", Data("not under the prefix".utf8))

            let first = try await vigil.run(["put", "images:/incoming", "s3://\(uploads.bucket)/site-a/"])
            #expect(first.status == 0, "\(first.error)")
            #expect(first.output.contains("1100 files put (1100 new)"))
            #expect(try await vigil.json([Entry].self, ["ls", "images:/incoming"]).count == 1_001)
            #expect(try await vigil.run(["cat", "images:/incoming/late/cam1-1700001050.jpg"]).output == "upload 1050")

            // Again, after one object changed and one arrived: only those two are put.
            try await Self.upload(client, key: "site-a/cam1-1700000005.jpg", Data("replaced".utf8))
            try await Self.upload(client, key: "site-a/cam1-1700009999.jpg", Data("new".utf8))
            let second = try await vigil.run(["put", "images:/incoming", "s3://\(uploads.bucket)/site-a/"])
            #expect(second.status == 0, "\(second.error)")
            #expect(second.output.contains("2 files put (2 new), 1099 skipped (already there)"))
            #expect(try await vigil.run(["cat", "images:/incoming/cam1-1700000005.jpg"]).output == "replaced")

            let third = try await vigil.run(["put", "images:/incoming", "s3://\(uploads.bucket)/site-a"])
            #expect(third.output.contains("nothing to put: all 1101 objects are already in images@master"))
            #expect(try await vigil.run(["fsck"]).status == 0)
        }

        /// The seed's flow with every blob on S3: images in, a pipeline (an external command, as a customer's stage
        /// would be) run by the engine, its outputs read back, fsck clean.
        @Test func thePipelineRunsEndToEndWithBlobsOnS3() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let server = try await SeaweedServer.shared()
            let (vigil, configuration) = try await makeVigil(root, server: server)
            try await vigil.run(["repo", "create", "images"])
            let frames = root.appendingPathComponent("frames")
            try makeFrames(in: frames, count: 40, tag: "e2e", size: 512)
            #expect(try await vigil.run(["put", "images", frames.path]).status == 0)
            let spec = root.appendingPathComponent("sizes.yaml")
            try Data(
                """
                name: sizes
                input: {pfs: {repo: images, glob: /*}}
                transform:
                  cmd: [sh, -c, 'wc -c < "$images" | tr -d " " > /pfs/out/$(basename "$images").size']
                parallelism: 4
                """.utf8
            ).write(to: spec)
            #expect(try await vigil.run(["pipeline", "create", spec.path]).status == 0)
            let before = try await blobCount(configuration)
            let engine = try await vigil.run(["engine", "--until-idle"])
            #expect(engine.status == 0, "\(engine.error)")
            let outputs = try await vigil.json([Entry].self, ["ls", "sizes"])
            #expect(outputs.count == 40)
            #expect(try await vigil.run(["cat", "sizes:/cam1-1700000001.jpg.size"]).output == "512\n")
            #expect(try await blobCount(configuration) > before)
            #expect(try await vigil.run(["fsck"]).status == 0)
            #expect(!FileManager.default.fileExists(atPath: vigil.home.appendingPathComponent("blobs").path))
        }

        static func upload(_ client: S3Client, key: String, _ data: Data) async throws {
            try await client.putObject(key, data: data)
        }
    }
}
