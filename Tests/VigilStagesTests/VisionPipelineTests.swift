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
    /// A new data folder on disk with Vigil's stages.
    static func dataFolder() async throws -> (URL, VersionedStore, EngineEnvironment) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-vision-\(UUID().uuidString)")
        let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        let store = try await VersionedStore.open(home: folder, create: true, logger: logger)
        return (folder, store, try EngineEnvironment.open(home: folder, store: store, stages: .vigil, logger: logger))
    }

    @Test func uploadsBecomeValidatedImagesAndDetectionRecords() async throws {
        let (folder, store, environment) = try await Self.dataFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
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

    @Test func detectionsThatMatchACustomersRulesBecomeThreatsWithTheImage() async throws {
        let (folder, store, environment) = try await Self.dataFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let manager = PipelineManager(environment: environment)
        try await store.createRepo("images")
        try await store.createRepo("rules")
        // acme owns the front door and fears persons; the Smiths own the garage and fear only buses.
        let rules = """
            customers:
              - {id: acme, name: Acme, contacts: [{name: Ana, email: ana@acme.example}, {name: Bo, phone: "+44 1234 5678"}],
                 devices: [frontdoor], dangerous: {person: 0.6}, escalation: {order: [Bo, Ana], acknowledgeWithin: 2m}}
              - {id: smiths, name: The Smiths, contacts: [{name: Sam, email: sam@smith.example}],
                 devices: [garage], dangerous: {bus: 0.5}}
            """
        let rulesWriter = try await store.openCommit(repo: "rules")
        try await rulesWriter.put("/customers.yaml", data: Data(rules.utf8))
        let rulesCommit = try await rulesWriter.finish()
        let writer = try await store.openCommit(repo: "images")
        try await writer.put("/frontdoor-1763769600.jpg", data: try DetectorTests.photo("bus.jpg"))
        try await writer.put("/garage-1763769700.jpg", data: try DetectorTests.photo("zidane.jpg"))
        try await writer.finish()
        for yaml in [
            "{name: validate, input: {pfs: {repo: images, glob: '/*'}}, transform: {stage: validate}}",
            "{name: detect, input: {pfs: {repo: validate, glob: '/valid/*'}}, transform: {stage: detect}}",
            """
            {name: threats, input: {cross: [{pfs: {repo: detect, glob: '/*/*'}},
              {pfs: {repo: rules, glob: '/', reprocess: false}}]}, transform: {stage: threats}}
            """,
        ] {
            try await manager.create(try PipelineSpecParser.parse(yaml), source: yaml)
        }
        let jobs = try await PipelineEngine(environment: environment).runUntilIdle()
        #expect(jobs.map(\.pipeline) == ["validate", "detect", "threats"])
        #expect(jobs.allSatisfy { $0.state == .finished })

        // Only the front door's persons are a threat (zidane has no bus).
        #expect(try await store.list(Address(repo: "threats")).map(\.name) == ["frontdoor"])
        let threat = try JSONDecoder().decode(
            ThreatRecord.self,
            from: try await store.read(Address(repo: "threats", path: "/frontdoor/frontdoor-1763769600.jpg.json")))
        #expect(threat.customer == "acme")
        #expect(threat.labels.map(\.label) == ["person"])
        #expect(threat.labels.first.map { $0.confidence > 0.9 && $0.count >= 3 } == true)
        #expect(threat.contacts.map(\.name) == ["Bo", "Ana"])
        #expect(threat.acknowledgeWithin == 120)
        #expect(threat.rules.commit == rulesCommit.id)
        #expect(
            threat.detection.hasPrefix("detect@")
                && threat.detection.hasSuffix(":/frontdoor/frontdoor-1763769600.jpg.json"))
        // The image is beside its record, the very same blob as the upload.
        let copy = try await store.list(Address(repo: "threats", path: "/frontdoor/frontdoor-1763769600.jpg"))
        let upload = try await store.list(Address(repo: "images", path: "/frontdoor-1763769600.jpg"))
        #expect(copy.first?.hash == upload.first?.hash)
        // Provenance runs back to the upload and names the rules version.
        let output = try #require(try await store.resolveCommit("threats", ref: nil))
        #expect(output.provenance.inputs.contains(rulesCommit.reference))
        #expect(try await store.check().isClean)

        // New rules that also fear ties: no re-judging; a new image from the garage is judged by them.
        let newRules = try await store.openCommit(repo: "rules")
        try await newRules.put(
            "/customers.yaml",
            data: Data(rules.replacingOccurrences(of: "{bus: 0.5}", with: "{bus: 0.5, tie: 0.4}").utf8))
        try await newRules.finish()
        let again = try await PipelineEngine(environment: environment).runUntilIdle()
        #expect(again.isEmpty)
        let more = try await store.openCommit(repo: "images")
        try await more.put("/garage-1763769800.jpg", data: try DetectorTests.photo("zidane.jpg"))
        try await more.finish()
        _ = try await PipelineEngine(environment: environment).runUntilIdle()
        #expect(
            try await store.list(Address(repo: "threats", path: "/garage")).map(\.name) == [
                "garage-1763769800.jpg", "garage-1763769800.jpg.json",
            ])
    }
}
