import Foundation
import Logging
import Testing
import VigilPipeline
import VigilStages
import VigilStore
import VigilVision

/// images → validate → detect, through the real engine and the real detector.
@Suite("Vision pipeline", .serialized)
struct VisionPipelineTests {
    @Test func uploadsBecomeValidatedImagesAndDetectionRecords() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-vision-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        let store = try await VersionedStore.open(home: folder, create: true, logger: logger)
        let environment = try EngineEnvironment.open(home: folder, store: store, stages: .vigil, logger: logger)
        let manager = PipelineManager(environment: environment)
        try await store.createRepo("images")
        let writer = try await store.openCommit(repo: "images")
        try await writer.put("/frontdoor-1763769600.jpg", data: try DetectorTests.photo("bus.jpg"))
        try await writer.put("/garage-1763769700.jpg", data: try DetectorTests.photo("zidane.jpg"))
        try await writer.put("/garage-1763769800.jpg", data: SyntheticImages.greyJPEGOneChannel)
        let upload = try await writer.finish()
        for yaml in [
            "{name: validate, input: {pfs: {repo: images, glob: '/*'}}, transform: {stage: validate}}",
            "{name: detect, input: {pfs: {repo: validate, glob: '/valid/*'}}, transform: {stage: detect}, parallelism: 2}",
        ] {
            try await manager.create(try PipelineSpecParser.parse(yaml), source: yaml)
        }
        let jobs = try await PipelineEngine(environment: environment).runUntilIdle()
        #expect(jobs.map(\.pipeline) == ["validate", "detect"])
        #expect(jobs.map(\.counts.processed) == [3, 2])

        let record = try JSONDecoder().decode(
            DetectionRecord.self,
            from: try await store.read(Address(repo: "detect", path: "/frontdoor/frontdoor-1763769600.jpg.json")))
        #expect(record.device == "frontdoor")
        #expect(record.time == 1_763_769_600)
        #expect(record.isoTime == "2025-11-22T00:00:00Z")
        #expect(record.image.width == 810 && record.image.height == 1080)
        #expect(record.model.name == "yolov4-tiny" && record.model.labels == 80)
        #expect((record.counts["person"] ?? 0) >= 3)
        #expect(record.detections.contains { $0.label == "bus" && $0.confidence > 0.5 })
        #expect(record.image.address.hasPrefix("validate@"))
        #expect(
            try await store.list(Address(repo: "detect", path: "/garage")).map(\.name) == ["garage-1763769700.jpg.json"]
        )

        // Provenance: the detection commit names the validate commit and the model; validate names the upload.
        let detection = try #require(try await store.resolveCommit("detect", ref: nil))
        #expect(detection.provenance.origin?.contains("model=yolov4-tiny@\(record.model.sha256.prefix(16))") == true)
        let upstream = try await store.provenance(of: detection.reference, transitive: true)
        #expect(upstream.contains(upload.reference))
    }
}
