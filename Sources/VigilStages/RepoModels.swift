import Foundation
import Synchronization
import VigilPipeline
import VigilStore
import VigilVision

/// A detector whose model is versioned data: a folder of a repo input (`models@master:/yolov4-tiny/`) holding
/// one `*.onnx` file, its labels (`labels.txt` or one `*.names` file, a label per line) and, by convention, a
/// model card (`card.md`: what it was trained on). Committing a new model is a commit like any other; the
/// pipeline's spec says what it changes (a `cross` input: every frame judged again; `reprocess: false`: new
/// frames only). The last model read stays loaded, so a job's datums load it once.
final class RepoModels: Sendable {
    /// The input (`/pfs/<name>`) that holds the model's folder.
    let input: String
    /// Everything but the model and labels files: input size, thresholds, threads.
    let base: Detector.Configuration
    private let loaded = Mutex<(key: BlobHash, detector: Detector)?>(nil)

    init(input: String, base: Detector.Configuration) {
        self.input = input
        self.base = base
    }

    /// The latest model loaded, if any (for the job's provenance).
    var current: Detector? { loaded.withLock { $0?.detector } }

    /// The detector of the model in `datum`'s model input, and that folder's address at its commit.
    func detector(for datum: DatumContext, on thread: WorkerThread) async throws -> (Detector, source: String) {
        let folder = try datum.input(input)
        let source = "\(folder.repo)@\(folder.commit):\(folder.path)"
        if let kept = loaded.withLock({ $0 }), kept.key == folder.hash { return (kept.detector, source) }
        guard folder.kind == .directory else {
            throw PipelineError(
                .stageFailed,
                "the model input '\(input)' matched the file \(source); its glob must match the model's folder "
                    + "(e.g. /yolov4-tiny), which holds the .onnx file and its labels", value: folder.path)
        }
        let files = try await datum.files(of: folder)
        func only(_ what: String, _ test: (String) -> Bool) throws -> (path: String, entry: TreeEntry) {
            let found = files.filter { test($0.entry.name) }
            guard found.count == 1, let file = found.first else {
                throw PipelineError(
                    .stageFailed,
                    "the model folder \(source) holds \(found.count) \(what); it needs exactly one "
                        + "(the model as NAME.onnx, its labels as labels.txt or NAME.names)", value: folder.path)
            }
            return file
        }
        let model = try only(".onnx files") { $0.hasSuffix(".onnx") }
        let labels = try only("labels files") { $0 == "labels.txt" || $0.hasSuffix(".names") }
        let modelBytes = try await datum.read(model.entry)
        let labelBytes = try await datum.read(labels.entry)
        let (base, key) = (base, folder.hash)
        let detector = try await thread.run {
            var configuration = base
            // ONNX Runtime and the label reader take files: the folder's two files, written where only this
            // process looks, read once, then removed.
            let place = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-model-\(key.hex)")
            try FileManager.default.createDirectory(at: place, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: place) }
            configuration.model = place.appendingPathComponent(model.entry.name)
            configuration.labels = place.appendingPathComponent(labels.entry.name)
            try modelBytes.write(to: configuration.model)
            try labelBytes.write(to: configuration.labels)
            return try Detector(configuration)
        }
        loaded.withLock { $0 = (key, detector) }
        return (detector, source)
    }
}
