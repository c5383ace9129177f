import ArgumentParser
import Foundation
import VigilVision

struct DetectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detect",
        abstract: "Run the object detector on image files outside any repo.",
        discussion: """
            Uses YOLOv4-tiny (COCO, 80 labels) from `make setup` unless --model and --labels name another ONNX \
            model. Prints a table of what it found, or JSON with --json. See docs/MODEL.md.
            """)

    /// Detection reads no repo; the shared options are accepted so every command takes them (README).
    @OptionGroup var store: StoreOptions
    @Argument(help: "JPEG or PNG files.") var files: [String]
    @OptionGroup var output: OutputOptions
    @Option(help: "An ONNX model (default: .deps/model/yolov4-tiny.onnx).") var model: String?
    @Option(help: "Its label file, one label a line (default: .deps/model/coco.names).") var labels: String?
    @Option(help: "Least confidence to report, 0-1.") var score: Float = 0.25
    @Option(help: "Intra-op threads of the runtime.") var threads = 2

    struct Row: Encodable {
        var file: String
        var width: Int
        var height: Int
        var detections: [Detection]
        var inferenceMs: Double
        var model: Detector.ModelIdentity
    }

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("name at least one image file") }
        guard score > 0, score < 1 else { throw ValidationError("--score must be between 0 and 1") }
        guard (1...64).contains(threads) else { throw ValidationError("--threads must be 1 to 64") }
    }

    func run() async throws {
        var configuration = Detector.Configuration.defaultModel()
        if let model { configuration.model = URL(fileURLWithPath: model) }
        if let labels { configuration.labels = URL(fileURLWithPath: labels) }
        configuration.scoreThreshold = score
        configuration.intraOpThreads = threads
        let detector = try Detector(configuration)
        var rows: [Row] = []
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw DetectorError(.badImage, "cannot read '\(file)'", value: file)
            }
            let result: Detector.Result
            do {
                result = try detector.detect(data)
            } catch {
                throw DetectorError(error.code, "\(file): \(error.message)", value: file)
            }
            rows.append(
                Row(
                    file: file, width: result.width, height: result.height, detections: result.detections,
                    inferenceMs: (result.inferenceMilliseconds * 10).rounded() / 10, model: detector.model))
        }
        if output.json { return try Terminal.json(rows) }
        Terminal.table(
            ["FILE", "LABEL", "CONFIDENCE", "BOX (xMin,yMin xMax,yMax)"],
            rows.flatMap { row in
                row.detections.isEmpty
                    ? [[row.file, "-", "-", "-"]]
                    : row.detections.map {
                        [
                            row.file, $0.label, String(format: "%.3f", $0.confidence),
                            "\($0.xMin),\($0.yMin) \($0.xMax),\($0.yMax)",
                        ]
                    }
            })
        print(
            "model \(detector.model.name) (sha256 \(detector.model.sha256.prefix(12)), \(detector.model.labels) labels); "
                + rows.map { "\(URL(fileURLWithPath: $0.file).lastPathComponent) \($0.inferenceMs) ms" }
                .joined(separator: ", "))
    }
}
