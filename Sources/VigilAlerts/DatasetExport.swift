import Foundation
import NIOPosix
import VigilStages
import VigilStore
import VigilVision

/// A labelled dataset for retraining, made from the alerts people judged: each judged alert's frame, with the
/// detector's boxes for the labels that raised it when the alert was confirmed, and no boxes when it was a
/// false alarm (a hard negative: nothing of those labels is there). Written to a folder as COCO
/// (`annotations.json`) or YOLO (`labels/*.txt`, `classes.txt`), with `manifest.json` naming every source, and
/// committed to the datasets repo under its name, with the commits it came from as provenance.
public struct DatasetExport: Sendable {
    public enum Format: String, Sendable, CaseIterable {
        case coco, yolo
    }

    /// Which judged alerts go in: all by default.
    public struct Selection: Sendable {
        public var devices: Set<String> = []
        /// Labels the detector saw (any of them).
        public var labels: Set<String> = []
        public var verdict: AlertVerdict.Kind?
        /// Frame times (unix seconds): at or after, and before.
        public var after: Int64?
        public var before: Int64?

        public init() {}

        public func takes(_ verdict: AlertVerdict) -> Bool {
            (devices.isEmpty || devices.contains(verdict.device))
                && (labels.isEmpty || !labels.isDisjoint(with: verdict.labels))
                && (self.verdict == nil || self.verdict == verdict.verdict)
                && (after.map { verdict.time >= $0 } ?? true) && (before.map { verdict.time < $0 } ?? true)
        }
    }

    /// What an export made.
    public struct Report: Sendable, Codable {
        public var name: String
        public var format: String
        public var images: Int
        public var boxes: Int
        /// Frames of false alarms: in the dataset without boxes.
        public var negatives: Int
        /// Judged alerts left out because their frame or detection record cannot be read (erased, say).
        public var skipped: [String]
        public var commit: String
        public var folder: String
    }

    /// One frame in the dataset, as `manifest.json` lists it.
    struct Item: Codable {
        var file: String
        var alert: String
        var verdict: AlertVerdict.Kind
        var label: String?
        var judgedBy: String
        var image: String
        var sha256: String
        var detection: String
        var width: Int
        var height: Int
        /// The detector's boxes, as its records have them.
        var boxes: [Detection]
    }

    public let store: VersionedStore
    public let alerts: any AlertStore
    public let verdicts: VerdictBook
    public let repo: String

    public init(store: VersionedStore, alerts: any AlertStore, verdicts: VerdictBook, repo: String) {
        self.store = store
        self.alerts = alerts
        self.verdicts = verdicts
        self.repo = repo
    }

    /// Exports the judged alerts `selection` takes as dataset `name` in `format`, into `folder` (which must not
    /// exist, or be empty) and as a commit of the datasets repo.
    public func export(
        _ name: String, format: Format, selection: Selection, to folder: URL, by who: String,
        progress: @Sendable (Int, Int) -> Void = { _, _ in }
    ) async throws -> Report {
        guard name.range(of: "^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$", options: .regularExpression) != nil else {
            throw VigilError(
                .badArgument, "'\(name)' is not a dataset name: 1-63 letters, digits, '_', '.' or '-'", value: name)
        }
        if let existing = try? FileManager.default.contentsOfDirectory(atPath: folder.path), !existing.isEmpty {
            throw VigilError(
                .badArgument, "\(folder.path) is not empty; give a new folder for the dataset", value: folder.path)
        }
        let chosen = try await verdicts.all().filter(selection.takes)
        var files: [String: Data] = [:]
        var items: [Item] = []
        var skipped: [String] = []
        var sources = Set<CommitReference>()
        for (index, verdict) in chosen.enumerated() {
            progress(index, chosen.count)
            do {
                let (item, image, from) = try await self.item(for: verdict)
                guard files["images/" + item.file] == nil else { continue }
                files["images/" + item.file] = image
                items.append(item)
                sources.formUnion(from)
            } catch let error as VigilError
                where [.erased, .pathNotFound, .commitNotFound, .repoNotFound].contains(
                    error.code)
            {
                skipped.append("\(verdict.alert): \(error.message)")
            } catch let error as AlertError where error.code == .alertNotFound {
                skipped.append("\(verdict.alert): \(error.message)")
            }
        }
        progress(chosen.count, chosen.count)
        let classes = Set(items.flatMap { $0.boxes.map(\.label) }).sorted()
        switch format {
        case .coco: files[Self.annotationsFile] = try Self.coco(items, classes: classes)
        case .yolo:
            files["classes.txt"] = Data(classes.map { $0 + "\n" }.joined().utf8)
            for item in items { files["labels/" + Self.stem(item.file) + ".txt"] = Self.yolo(item, classes: classes) }
        }
        if let head = try await store.resolveCommit(verdicts.repo, ref: nil) { sources.insert(head.reference) }
        files[Self.manifestFile] = try Self.encoder.encode(
            Manifest(name: name, format: format.rawValue, classes: classes, images: items, skipped: skipped))

        // Written on NIO's blocking-I/O pool, not on the threads async code shares: a dataset can be large.
        try await NIOThreadPool.singleton.runIfActive { [files] in
            for (path, data) in files {
                let url = folder.appendingPathComponent(path)
                try FileManager.default.createDirectory(
                    at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                try data.write(to: url, options: .atomic)
            }
        }
        try await store.createRepoIfMissing(repo, description: "labelled datasets made from judged alerts")
        let writer = try await store.openCommit(repo: repo, author: who)
        let commit: CommitInfo
        do {
            do {
                // Exporting a name again makes its next version: the earlier stays in the repo's history.
                try await writer.delete("/\(name)")
            } catch let error as VigilError where error.code == .pathNotFound {}
            for (path, data) in files.sorted(by: { $0.key < $1.key }) {
                _ = try await writer.put("/\(name)/\(path)", data: data)
            }
            commit = try await writer.finish(
                message: "dataset \(name) (\(format.rawValue)): \(items.count) images",
                provenance: Provenance(
                    inputs: sources.sorted { ($0.repo, $0.commit) < ($1.repo, $1.commit) },
                    origin: "dataset export format=\(format.rawValue)"))
        } catch {
            await writer.abandon()
            throw error
        }
        return Report(
            name: name, format: format.rawValue, images: items.count, boxes: items.reduce(0) { $0 + $1.boxes.count },
            negatives: items.filter { $0.verdict == .falseAlarm }.count, skipped: skipped, commit: commit.id,
            folder: folder.path)
    }

    struct Manifest: Codable {
        var name: String
        var format: String
        var classes: [String]
        var images: [Item]
        var skipped: [String]
    }

    /// The frame, its detection record's boxes, and the commits both came from.
    private func item(for verdict: AlertVerdict) async throws -> (Item, Data, [CommitReference]) {
        let record = try await alerts.alert(verdict.alert).0.record
        let imageAddress = try Address.parse(record.image.address)
        let detectionAddress = try Address.parse(record.detection)
        let image = try await store.read(imageAddress)
        let detection = try JSONDecoder().decode(
            DetectionRecord.self, from: try await store.read(detectionAddress))
        let raised = Set(record.labels.map(\.label))
        let boxes = verdict.verdict == .confirmed ? detection.detections.filter { raised.contains($0.label) } : []
        let item = Item(
            file: record.image.name, alert: verdict.alert, verdict: verdict.verdict, label: verdict.label,
            judgedBy: verdict.by, image: record.image.address, sha256: record.image.sha256,
            detection: record.detection, width: detection.image.width, height: detection.image.height, boxes: boxes)
        let from = [imageAddress, detectionAddress].compactMap { address in
            address.ref.map { CommitReference(repo: address.repo, commit: $0) }
        }
        return (item, image, from)
    }

    static let manifestFile = "manifest.json"
    static let annotationsFile = "annotations.json"
    /// The files of a dataset that name its frames.
    static let indexFiles = [manifestFile, annotationsFile]

    static func stem(_ file: String) -> String {
        file.lastIndex(of: ".").map { String(file[..<$0]) } ?? file
    }

    /// COCO object detection: images, categories (ids from 1, in name order) and one annotation per box, its
    /// `bbox` as [x, y, width, height] in pixels. Each image also says its verdict (`vigil_verdict`).
    static func coco(_ items: [Item], classes: [String]) throws -> Data {
        var images: [[String: Any]] = []
        var annotations: [[String: Any]] = []
        for (index, item) in items.enumerated() {
            var image: [String: Any] = [
                "id": index + 1, "file_name": "images/" + item.file, "width": item.width, "height": item.height,
                "vigil_verdict": item.verdict.rawValue, "vigil_alert": item.alert,
            ]
            if let label = item.label { image["vigil_label"] = label }
            images.append(image)
            for box in item.boxes {
                let width = box.xMax - box.xMin
                let height = box.yMax - box.yMin
                annotations.append([
                    "id": annotations.count + 1, "image_id": index + 1,
                    "category_id": (classes.firstIndex(of: box.label) ?? 0) + 1,
                    "bbox": [box.xMin, box.yMin, width, height], "area": width * height, "iscrowd": 0,
                    "score": box.confidence,
                ])
            }
        }
        let document: [String: Any] = [
            "info": ["description": "Vigil judged alerts", "version": "1"],
            "images": images, "annotations": annotations,
            "categories": classes.enumerated().map {
                ["id": $0.offset + 1, "name": $0.element, "supercategory": "object"]
            },
        ]
        return try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys])
    }

    /// YOLO: a line per box, `class x_center y_center width height`, the last four as fractions of the image's
    /// width and height; an empty file for a frame without boxes.
    static func yolo(_ item: Item, classes: [String]) -> Data {
        let width = Double(max(1, item.width))
        let height = Double(max(1, item.height))
        let lines = item.boxes.map { box in
            String(
                format: "%d %.6f %.6f %.6f %.6f\n", classes.firstIndex(of: box.label) ?? 0,
                Double(box.xMin + box.xMax) / 2 / width, Double(box.yMin + box.yMax) / 2 / height,
                Double(box.xMax - box.xMin) / width, Double(box.yMax - box.yMin) / height)
        }
        return Data(lines.joined().utf8)
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()
}
