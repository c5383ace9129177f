import Foundation
import Testing
import VigilPipeline
import VigilStages
import VigilStore
import VigilVision

/// The detector's model as versioned data: a folder of the `models` repo, read by the detect stage through an
/// input, named by every detection it makes; a new model commit re-judges every frame, or only new frames when
/// the spec says `reprocess: false`.
@Suite("Models as versioned data", .serialized)
struct RepoModelTests {
    /// The model's folder: the project's YOLOv4-tiny, its labels (the first renamed when `person` is given),
    /// and a model card.
    static func commitModel(_ store: VersionedStore, person: String = "person") async throws -> CommitInfo {
        let files = Detector.Configuration.defaultModel()
        var labels = try String(contentsOf: files.labels, encoding: .utf8)
        if person != "person", let first = labels.range(of: "person\n") {
            labels.replaceSubrange(first, with: person + "\n")
        }
        let writer = try await store.openCommit(repo: "models")
        try await writer.put("/yolov4-tiny/yolov4-tiny.onnx", data: try Data(contentsOf: files.model))
        try await writer.put("/yolov4-tiny/coco.names", data: Data(labels.utf8))
        try await writer.put("/yolov4-tiny/card.md", data: Data("YOLOv4-tiny, COCO 2017, 80 labels.\n".utf8))
        return try await writer.finish(message: "model with '\(person)'")
    }

    static func record(_ store: VersionedStore, _ repo: String, _ path: String) async throws -> DetectionRecord {
        try JSONDecoder().decode(DetectionRecord.self, from: try await store.read(Address(repo: repo, path: path)))
    }

    @Test func eachDetectionNamesTheModelCommitAndANewModelIsAVersionedChange() async throws {
        let (folder, store, environment) = try await VisionPipelineTests.dataFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let manager = PipelineManager(environment: environment)
        for repo in ["images", "models"] { try await store.createRepo(repo) }
        let first = try await Self.commitModel(store)
        let writer = try await store.openCommit(repo: "images")
        try await writer.put("/frontdoor-1763769600.jpg", data: try DetectorTests.photo("bus.jpg"))
        try await writer.finish()
        let model = "{pfs: {repo: models, glob: '/yolov4-tiny'%@}}"
        for yaml in [
            "{name: validate, input: {pfs: {repo: images, glob: '/*'}}, transform: {stage: validate}}",
            "{name: detect, input: {cross: [{pfs: {repo: validate, glob: '/valid/*'}}, "
                + String(format: model, "") + "]}, transform: {stage: detect, options: {modelInput: models}}}",
            "{name: detect-new, input: {cross: [{pfs: {repo: validate, glob: '/valid/*'}}, "
                + String(format: model, ", reprocess: false")
                + "]}, transform: {stage: detect, options: {modelInput: models}}}",
        ] {
            try await manager.create(try PipelineSpecParser.parse(yaml), source: yaml)
        }
        _ = try await PipelineEngine(environment: environment).runUntilIdle()
        let path = "/frontdoor/frontdoor-1763769600.jpg.json"
        for repo in ["detect", "detect-new"] {
            let record = try await Self.record(store, repo, path)
            #expect(record.model.source == "models@\(first.id):/yolov4-tiny", "\(repo)")
            #expect(record.model.name == "yolov4-tiny" && record.model.labels == 80)
            // Alerts and verdicts are grouped by this version: the weights and the commit they came in.
            #expect(
                record.model.version == "yolov4-tiny@\(record.model.sha256.prefix(12))+models@\(first.id.prefix(8))")
            #expect((record.counts["person"] ?? 0) >= 3)
            // The output commit's provenance names the model commit.
            let output = try #require(try await store.resolveCommit(repo, ref: nil))
            #expect(output.provenance.inputs.contains(first.reference), "\(output.provenance)")
        }

        // A new model (its first label renamed): `detect` judges the frame again with it, `detect-new` does not.
        let second = try await Self.commitModel(store, person: "human")
        _ = try await PipelineEngine(environment: environment).runUntilIdle()
        let again = try await Self.record(store, "detect", path)
        #expect(again.model.source == "models@\(second.id):/yolov4-tiny")
        #expect((again.counts["human"] ?? 0) >= 3 && again.counts["person"] == nil, "\(again.counts)")
        #expect(try await Self.record(store, "detect-new", path).model.source == "models@\(first.id):/yolov4-tiny")

        // A frame that arrives after it is judged with the new model by both.
        let later = try await store.openCommit(repo: "images")
        try await later.put("/garage-1763769700.jpg", data: try DetectorTests.photo("zidane.jpg"))
        try await later.finish()
        _ = try await PipelineEngine(environment: environment).runUntilIdle()
        for repo in ["detect", "detect-new"] {
            let record = try await Self.record(store, repo, "/garage/garage-1763769700.jpg.json")
            #expect(record.model.source == "models@\(second.id):/yolov4-tiny", "\(repo)")
            #expect((record.counts["human"] ?? 0) >= 1, "\(repo): \(record.counts)")
        }
    }

    @Test func aModelFolderWithoutOneModelAndOneLabelsFileFailsItsDatumsSayingWhy() async throws {
        let (folder, store, environment) = try await VisionPipelineTests.dataFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        for repo in ["images", "models"] { try await store.createRepo(repo) }
        let model = try await store.openCommit(repo: "models")
        try await model.put("/yolov4-tiny/card.md", data: Data("no model yet\n".utf8))
        try await model.finish()
        let writer = try await store.openCommit(repo: "images")
        try await writer.put("/frontdoor-1763769600.jpg", data: try DetectorTests.photo("bus.jpg"))
        try await writer.finish()
        let yaml =
            "{name: detect, input: {cross: [{pfs: {repo: images, glob: '/*'}}, {pfs: {repo: models, glob: '/yolov4-tiny'}}]},"
            + " transform: {stage: detect, options: {modelInput: models}}, datumTries: 1}"
        try await PipelineManager(environment: environment).create(try PipelineSpecParser.parse(yaml), source: yaml)
        let jobs = try await PipelineEngine(environment: environment).runUntilIdle()
        #expect(jobs.first?.counts.failed == 1)
        let failed = try await environment.jobs.datums(job: try #require(jobs.first).id, state: .failed, limit: 10)
        #expect(failed.first?.error?.contains("holds 0 .onnx files") == true, "\(failed)")

        // `modelInput` beside a model file is refused.
        let both = StageConfiguration(
            pipeline: "both", options: ["modelInput": "models", "model": "/x.onnx"], store: store,
            logger: environment.logger)
        let error = #expect(throws: PipelineError.self) { try DetectStage.modelInput(both) }
        #expect(error?.message.contains("not both") == true)
    }
}
