import Foundation
import Logging
import ServerTestSupport
import Synchronization
import Testing
import VigilStore

@testable import VigilPipeline

/// Outages delay work, never lose it: a datum that meets an unavailable store waits instead of failing, and
/// datums that did fail are tried again on a schedule.
@Suite("Outages", .serialized)
struct OutageTests {
    static let quiet = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    /// A stage slow enough for an outage to land in the middle of a job.
    struct SlowCopy: Stage {
        let inner: RecordingStage

        func process(_ datum: DatumContext) async throws {
            try await Task.sleep(for: .milliseconds(40))
            try await inner.process(datum)
        }
    }

    @Test(.enabled(if: SeaweedServer.canRun, Comment(rawValue: SeaweedServer.skipReason)))
    func framesCommittedBeforeAnS3OutageAreAllProcessedAfterIt() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-outage-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let server = try SeaweedServer(directory: root.appendingPathComponent("weed"))
        try await server.start()
        defer { server.kill() }
        var configuration = try await server.makeBucket(logger: Self.quiet)
        // No retries inside the client: the outage reaches the engine at once.
        configuration.maxAttempts = 1
        let store = VersionedStore(
            blobs: S3BlobStore(configuration: configuration, logger: Self.quiet), metadata: try SQLiteMetadataStore(),
            logger: Self.quiet)
        let stage = RecordingStage()
        var environment = EngineEnvironment(
            store: store, jobs: try SQLiteJobStore(), stages: .with("copy", SlowCopy(inner: stage)),
            scratch: root.appendingPathComponent("scratch"), logger: Self.quiet)
        environment.outageBackoff = Backoff(base: 0.1, maximum: 0.5)
        environment.stepRetry = Backoff(base: 0.1, maximum: 0.5)
        try await store.createRepo("images")
        let frames = Dictionary(
            uniqueKeysWithValues: (0..<40).map { ("/cam1-\(1_700_000_000 + $0).jpg", "frame \($0)") })
        try await commit(frames, to: "images", in: store)
        try await PipelineManager(environment: environment).create(
            try PipelineSpecParser.parse(
                "{name: copies, input: {pfs: {repo: images, glob: '/*'}}, transform: {stage: copy}, datumTries: 2}"),
            source: "")
        let engine = PipelineEngine(environment: environment)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await engine.run() }
            #expect(await waitFor { stage.totalRuns >= 5 })
            server.kill()
            // Under the old rule two tries would have failed every remaining datum within a second.
            try await Task.sleep(for: .seconds(4))
            try await blockingWork { try server.restartBlocking() }
            #expect(
                await waitFor(seconds: 60) {
                    guard let head = try? await store.resolveCommit("copies", ref: nil) else { return false }
                    return head.tree.files == 40
                })
            engine.stopGracefully()
            try await group.waitForAll()
        }
        let jobs = try await environment.jobs.jobs(pipeline: "copies", limit: 20)
        #expect(jobs.allSatisfy { $0.counts.failed == 0 }, "\(jobs.map(\.counts))")
        var outputs: [String: String] = [:]
        let head = try #require(try await store.resolveCommit("copies", ref: nil))
        try await store.trees.walkFiles(under: head.tree.hash) { path, entry in
            outputs[path] = String(decoding: try await store.blobs.get(entry.hash), as: UTF8.self)
        }
        #expect(outputs == Dictionary(uniqueKeysWithValues: frames.map { ($0.key + ".out", $0.value) }))
    }

    @Test func failedDatumsAreTriedAgainOnAScheduleUntilTheySucceed() async throws {
        var fixture = try await EngineFixture(stages: .with("flaky", RecordingStage(failFirst: 2)))
        defer { fixture.cleanUp() }
        fixture.environment.failedDatumRetry = Backoff(base: 0.05, maximum: 0.2)
        try await fixture.store.createRepo("images")
        try await commit(["/a": "a", "/b": "b"], to: "images", in: fixture.store)
        try await fixture.create(
            "{name: flaky, input: {pfs: {repo: images, glob: '/*'}}, transform: {stage: flaky}, datumTries: 1}")
        let engine = fixture.engine
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await engine.run() }
            #expect(await waitFor { (try? await fixture.files("flaky")) == ["/a.out": "a", "/b.out": "b"] })
            engine.stopGracefully()
            try await group.waitForAll()
        }
        // The first job and one retry failed both datums; the retry after that made the only new commit.
        let jobs = try await fixture.environment.jobs.jobs(pipeline: "flaky", limit: 10)
        #expect(jobs.count == 3, "\(jobs.map(\.state))")
        #expect(jobs.first?.state == .finished && jobs.first?.counts.processed == 2)
        #expect(jobs.dropFirst().allSatisfy { $0.state == .finishedWithFailures && $0.counts.failed == 2 })
        #expect(try await fixture.store.log("flaky").count == 2)
    }
}

/// Polls `condition` every 20 ms for up to `seconds`.
func waitFor(seconds: Double = 20, _ condition: () async -> Bool) async -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return await condition()
}
