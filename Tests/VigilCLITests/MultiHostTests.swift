import Foundation
import Logging
import ServerTestSupport
import Testing
import VigilStore

#if canImport(Glibc)
    import Glibc
#endif

extension ProcessTests {
    /// Workers on several hosts: network namespaces made by the test, PostgreSQL and SeaweedFS on host 0 (beside
    /// the coordinator, `vigil engine --no-workers`), `vigil worker` processes on the others, each with its own
    /// empty data folder. Every case ends with each input's output there exactly once and `vigil fsck` clean.
    @Suite(
        "workers on several hosts", .serialized,
        .enabled(if: PostgresServer.canRun, Comment(rawValue: PostgresServer.skipReason)),
        .enabled(if: SeaweedServer.canRun, Comment(rawValue: SeaweedServer.skipReason)),
        .enabled(if: NetworkLab.canRun, Comment(rawValue: NetworkLab.skipReason)))
    struct MultiHostTests {
        /// A lab with the shared services on host 0 and the settings every host's `vigil` gets.
        final class Deployment {
            let lab: NetworkLab
            let postgres: PostgresServer
            let seaweed: SeaweedServer
            let environment: [String: String]
            let root: URL

            init(hosts: Int) async throws {
                root = try temporaryFolder()
                lab = try NetworkLab(hosts: hosts)
                postgres = try PostgresServer(namespace: lab.namespace(0), host: lab.address(0))
                try await postgres.start()
                seaweed = try SeaweedServer(namespace: lab.namespace(0), host: lab.address(0))
                try await seaweed.start()
                let bucket = try seaweed.makeBucketInNamespace()
                var environment = seaweed.environment.merging(postgres.environment) { $1 }
                environment["VIGIL_DATABASE_URL"] = postgres.url(database: try await postgres.makeDatabase())
                environment["VIGIL_STORE"] = "s3://\(bucket)/vigil"
                environment["VIGIL_S3_ENDPOINT"] = seaweed.endpoint.absoluteString
                self.environment = environment
            }

            /// `vigil` on host `host` with a data folder of its own.
            func vigil(on host: Int, _ name: String) -> VigilProcess {
                VigilProcess(
                    home: root.appendingPathComponent(name), environment: environment,
                    launcher: lab.command(on: host, []))
            }

            func log(_ name: String) -> URL { root.appendingPathComponent("\(name).log") }

            func logText(_ name: String) -> String {
                (try? String(contentsOf: log(name), encoding: .utf8)) ?? ""
            }

            deinit {
                lab.destroy()
                try? FileManager.default.removeItem(at: root)
            }
        }

        struct Entry: Decodable {
            var name: String
        }

        struct Worker: Decodable {
            struct Record: Decodable {
                var name: String
                var pipeline: String
                var host: String
                var state: String
                var lastError: String?
            }
            var worker: Record
            var claimed: Int
            var finished: Int
        }

        struct Job: Decodable {
            var id: String
            var state: String
            var output: String?
        }

        struct Datum: Decodable {
            var state: String
            var worker: String?
        }

        /// The pipeline every case runs: each frame copied after `seconds` (a datum that takes a while).
        static func createPipeline(on coordinator: VigilProcess, in root: URL, seconds: Double) async throws {
            #expect(try await coordinator.run(["repo", "create", "images"]).status == 0)
            let spec = root.appendingPathComponent("slow.yaml")
            try Data(
                """
                {name: slow, input: {pfs: {repo: images, glob: '/*'}}, datumTimeout: 120,
                 transform: {cmd: [sh, -c, 'sleep \(seconds); cp /pfs/images/* /pfs/out/']}}
                """.utf8
            ).write(to: spec)
            let created = try await coordinator.run(["pipeline", "create", spec.path])
            #expect(created.status == 0, "\(created.error)")
        }

        /// The `slow` pipeline (3 s datums), the coordinator, and one worker named `name` on host 1 (lease 2 s)
        /// that has claimed every datum of a job of `frames` new frames: the engine, the worker, the frames.
        static func startJobHeldByOneWorker(
            _ name: String, frames count: Int, deployment: Deployment, coordinator: VigilProcess
        ) async throws -> (Process, Process, URL) {
            let engine = try await startCoordinator(coordinator, deployment: deployment, seconds: 3)
            let worker = try deployment.vigil(on: 1, name).start(
                ["worker", "--pipeline", "slow", "--name", name, "--lease", "2", "--concurrency", "\(count)"],
                errorLog: deployment.log(name))
            let frames = deployment.root.appendingPathComponent("frames")
            try makeFrames(in: frames, count: count, tag: name)
            #expect(try await coordinator.run(["put", "images", frames.path]).status == 0)
            let claimed = try await eventually(60) {
                try await workers(coordinator).first { $0.worker.name == name }?.claimed == count
            }
            #expect(claimed, "worker \(name) never claimed the datums: \(deployment.logText(name).suffix(2000))")
            return (engine, worker, frames)
        }

        /// The `slow` pipeline with datums of `seconds`, and its coordinator (`vigil engine --no-workers`).
        static func startCoordinator(
            _ coordinator: VigilProcess, deployment: Deployment, seconds: Double
        ) async throws -> Process {
            try await createPipeline(on: coordinator, in: deployment.root, seconds: seconds)
            return try coordinator.start(["engine", "--no-workers"], errorLog: deployment.log("engine"))
        }

        static func workers(_ on: VigilProcess) async throws -> [Worker] {
            try await on.json([Worker].self, ["worker", "list"])
        }

        /// Every frame is in `slow` exactly once, byte for byte, and `vigil fsck` finds nothing wrong.
        static func expectEachOutputOnce(
            _ frames: URL, on coordinator: VigilProcess, deployment: Deployment
        ) async throws {
            let names = try FileManager.default.contentsOfDirectory(atPath: frames.path).sorted()
            let done = try await eventually(90) {
                try await coordinator.json([Entry].self, ["ls", "slow"]).count >= names.count
            }
            #expect(done, "outputs missing; engine log: \(deployment.logText("engine").suffix(3000))")
            let listed = try await coordinator.json([Entry].self, ["ls", "slow"]).map(\.name).sorted()
            #expect(listed == names)
            for name in names {
                let expected = try String(contentsOf: frames.appendingPathComponent(name), encoding: .utf8)
                #expect(try await coordinator.run(["cat", "slow:/\(name)"]).output == expected)
            }
            let check = try await coordinator.run(["fsck"])
            #expect(check.status == 0, "\(check.output) \(check.error)")
        }

        @Test func aWorkerKilledMidDatumHasItsDatumsRunElsewhereWithinItsLease() async throws {
            let deployment = try await Deployment(hosts: 3)
            let coordinator = deployment.vigil(on: 0, "coordinator")
            let (engine, first, frames) = try await Self.startJobHeldByOneWorker(
                "first", frames: 6, deployment: deployment, coordinator: coordinator)
            defer { kill(engine.processIdentifier, SIGKILL) }
            defer { kill(first.processIdentifier, SIGKILL) }
            kill(first.processIdentifier, SIGKILL)
            let killed = Date()
            let second = try deployment.vigil(on: 2, "second").start(
                ["worker", "--pipeline", "slow", "--name", "second", "--lease", "2", "--concurrency", "6"],
                errorLog: deployment.log("second"))
            defer { kill(second.processIdentifier, SIGKILL) }
            let taken = try await eventually(30) {
                try await Self.workers(coordinator).first { $0.worker.name == "second" }?.claimed ?? 0 > 0
            }
            let waited = Date().timeIntervalSince(killed)
            #expect(taken)
            // The lease (2 s) plus the leader's tick; what the polling here adds (a `vigil` process per look) is
            // allowed for on top.
            #expect(waited < 2 + 1 + 1.5, "the datums were taken again only \(waited) s after the kill")
            try await Self.expectEachOutputOnce(frames, on: coordinator, deployment: deployment)
            let job = try #require(try await coordinator.json([Job].self, ["job", "list"]).first)
            #expect(job.state == "finished")
            let datums = try await coordinator.json([Datum].self, ["datum", "list", job.id])
            #expect(datums.count == 6)
            #expect(datums.allSatisfy { $0.worker == "second" && $0.state == "success" })
        }

        @Test func aWorkerCutOffPastItsLeaseHasItsLateResultsRefused() async throws {
            let deployment = try await Deployment(hosts: 3)
            let coordinator = deployment.vigil(on: 0, "coordinator")
            let (engine, cutOff, frames) = try await Self.startJobHeldByOneWorker(
                "cut", frames: 4, deployment: deployment, coordinator: coordinator)
            defer { kill(engine.processIdentifier, SIGKILL) }
            defer { kill(cutOff.processIdentifier, SIGKILL) }

            try deployment.lab.partition(1)
            let other = try deployment.vigil(on: 2, "other").start(
                ["worker", "--pipeline", "slow", "--name", "other", "--lease", "2", "--concurrency", "4"],
                errorLog: deployment.log("other"))
            defer { kill(other.processIdentifier, SIGKILL) }
            try await Self.expectEachOutputOnce(frames, on: coordinator, deployment: deployment)
            // The cut-off worker finished its datums meanwhile; joined again, it is told they are no longer its.
            try deployment.lab.heal(1)
            let refused = try await eventually(60) {
                let log = deployment.logText("cut")
                return log.contains("were refused")
            }
            #expect(refused, "the cut-off worker's log: \(deployment.logText("cut").suffix(3000))")
            try await Self.expectEachOutputOnce(frames, on: coordinator, deployment: deployment)
            let job = try #require(try await coordinator.json([Job].self, ["job", "list"]).first)
            let datums = try await coordinator.json([Datum].self, ["datum", "list", job.id])
            #expect(datums.count == 4)
            #expect(datums.allSatisfy { $0.worker == "other" })
        }

        @Test func theCoordinatorKilledAndPostgresRestartedMidJobLoseNothing() async throws {
            let deployment = try await Deployment(hosts: 3)
            let coordinator = deployment.vigil(on: 0, "coordinator")
            let engine = try await Self.startCoordinator(coordinator, deployment: deployment, seconds: 1.5)
            defer { kill(engine.processIdentifier, SIGKILL) }
            var workers: [Process] = []
            defer { for worker in workers { kill(worker.processIdentifier, SIGKILL) } }
            for host in 1...2 {
                // A query gives up after 1.5 s here (10 s by default), so the outage below is one they see.
                var worker = deployment.vigil(on: host, "w\(host)")
                worker.environment["VIGIL_DATABASE_URL"]! += "&timeout=1.5"
                workers.append(
                    try worker.start(
                        ["worker", "--pipeline", "slow", "--name", "w\(host)", "--lease", "3", "--concurrency", "2"],
                        errorLog: deployment.log("w\(host)")))
            }
            let frames = deployment.root.appendingPathComponent("frames")
            try makeFrames(in: frames, count: 10, tag: "restart")
            #expect(try await coordinator.run(["put", "images", frames.path]).status == 0)
            let busy = try await eventually(60) {
                try await Self.workers(coordinator).reduce(0) { $0 + $1.claimed } > 0
            }
            #expect(busy)
            kill(engine.processIdentifier, SIGKILL)
            deployment.postgres.kill()
            // Down for longer than a heartbeat's interval (a third of the 3 s lease): every worker meets it.
            try await Task.sleep(for: .seconds(3))
            try await deployment.postgres.start()
            let again = try coordinator.start(["engine", "--no-workers"], errorLog: deployment.log("engine"))
            defer { kill(again.processIdentifier, SIGKILL) }
            try await Self.expectEachOutputOnce(frames, on: coordinator, deployment: deployment)
            let jobs = try await coordinator.json([Job].self, ["job", "list"])
            #expect(jobs.count == 1, "one job, taken over: \(jobs)")
            #expect(jobs.first?.state == "finished")
            let listed = try await Self.workers(coordinator)
            #expect(listed.reduce(0) { $0 + $1.finished } >= 10)
            // The outage they waited out is shown in the list, not hidden.
            #expect(listed.allSatisfy { $0.worker.lastError?.contains("PostgreSQL") == true }, "\(listed)")
        }

        @Test func validateAndDetectOnDifferentHostsJudgeARealPhoto() async throws {
            let deployment = try await Deployment(hosts: 3)
            let coordinator = deployment.vigil(on: 0, "coordinator")
            #expect(try await coordinator.run(["repo", "create", "images"]).status == 0)
            for (name, spec) in [
                ("validate", "{name: validate, input: {pfs: {repo: images, glob: /*}}, transform: {stage: validate}}"),
                (
                    "detect",
                    "{name: detect, input: {pfs: {repo: validate, glob: '/valid/*'}}, "
                        + "transform: {stage: detect, options: {intraOpThreads: 1}}}"
                ),
            ] {
                let file = deployment.root.appendingPathComponent("\(name).yaml")
                try Data(spec.utf8).write(to: file)
                let created = try await coordinator.run(["pipeline", "create", file.path])
                #expect(created.status == 0, "\(created.error)")
            }
            let engine = try coordinator.start(["engine", "--no-workers"], errorLog: deployment.log("engine"))
            defer { kill(engine.processIdentifier, SIGKILL) }
            // Two hosts, two stages: the decoded pixels validate leaves in its process never reach detect's.
            var workers: [Process] = []
            defer { for worker in workers { kill(worker.processIdentifier, SIGKILL) } }
            for (host, stage) in [(1, "validate"), (2, "detect")] {
                workers.append(
                    try deployment.vigil(on: host, stage).start(
                        ["worker", "--pipeline", stage, "--name", "\(stage)-worker"], errorLog: deployment.log(stage)))
            }
            let frames = deployment.root.appendingPathComponent("frames")
            try FileManager.default.createDirectory(at: frames, withIntermediateDirectories: true)
            try FileManager.default.copyItem(
                at: VisionCLITests.samples.appendingPathComponent("bus.jpg"),
                to: frames.appendingPathComponent("frontdoor-1700000000.jpg"))
            #expect(try await coordinator.run(["put", "images", frames.path]).status == 0)
            let judged = try await eventually(120) {
                try await coordinator.run(["cat", "detect:/frontdoor/frontdoor-1700000000.jpg.json"]).status == 0
            }
            #expect(judged, "detect log: \(deployment.logText("detect").suffix(3000))")
            let record = try await coordinator.run(["cat", "detect:/frontdoor/frontdoor-1700000000.jpg.json"]).output
            #expect(record.contains("\"bus\""), "\(record)")
            for stage in ["validate", "detect"] {
                let job = try #require(
                    try await coordinator.json([Job].self, ["job", "list", "--pipeline", stage]).first)
                let datums = try await coordinator.json([Datum].self, ["datum", "list", job.id])
                #expect(datums.map(\.worker) == ["\(stage)-worker"])
            }
            let check = try await coordinator.run(["fsck"])
            #expect(check.status == 0, "\(check.output) \(check.error)")
        }

        @Test func twoWorkersRacingForOneDatumRunItOnce() async throws {
            let deployment = try await Deployment(hosts: 3)
            let coordinator = deployment.vigil(on: 0, "coordinator")
            let engine = try await Self.startCoordinator(coordinator, deployment: deployment, seconds: 0.5)
            defer { kill(engine.processIdentifier, SIGKILL) }
            var workers: [Process] = []
            defer { for worker in workers { kill(worker.processIdentifier, SIGKILL) } }
            for host in 1...2 {
                workers.append(
                    try deployment.vigil(on: host, "r\(host)").start(
                        ["worker", "--pipeline", "slow", "--name", "r\(host)"], errorLog: deployment.log("r\(host)")))
            }
            #expect(try await eventually(30) { try await Self.workers(coordinator).count == 2 })
            let frames = deployment.root.appendingPathComponent("frames")
            try makeFrames(in: frames, count: 1, tag: "race")
            #expect(try await coordinator.run(["put", "images", frames.path]).status == 0)
            try await Self.expectEachOutputOnce(frames, on: coordinator, deployment: deployment)
            let job = try #require(try await coordinator.json([Job].self, ["job", "list"]).first)
            let datums = try await coordinator.json([Datum].self, ["datum", "list", job.id])
            #expect(datums.count == 1)
            #expect(try await Self.workers(coordinator).map(\.finished).sorted() == [0, 1])
        }
    }
}
