import Foundation
import ServerTestSupport
import Testing

extension ProcessTests {
    /// `vigil dataset export` after real frames went through validate, the real detector and the threats stage,
    /// the notifier made alerts of them, and a person judged them.
    @Suite("vigil dataset export")
    struct DatasetCLITests {
        struct Detection: Decodable {
            struct Box: Decodable, Hashable {
                var label: String
                var xMin: Int
                var yMin: Int
                var xMax: Int
                var yMax: Int
            }
            struct Image: Decodable {
                var width: Int
                var height: Int
            }
            var detections: [Box]
            var image: Image
        }
        struct Coco: Decodable {
            struct Image: Decodable {
                var id: Int
                var fileName: String
                var width: Int
                var height: Int
                var vigilVerdict: String
            }
            struct Annotation: Decodable {
                var imageId: Int
                var categoryId: Int
                var bbox: [Int]
            }
            struct Category: Decodable {
                var id: Int
                var name: String
            }
            var images: [Image]
            var annotations: [Annotation]
            var categories: [Category]
        }
        struct Commit: Decodable {
            struct Provenance: Decodable {
                struct Input: Decodable { var repo: String }
                var inputs: [Input]
            }
            var id: String
            var provenance: Provenance
        }

        static let rules = """
            customers:
              - id: acme
                name: Acme Storage Ltd
                contacts: [{name: Ana Lee, email: ana@acme.example}]
                devices: [cam1]
                dangerous: {person: 0.5}
            """

        @Test func judgedAlertsBecomeACocoAndAYoloDatasetWithTheDetectorsBoxes() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let vigil = VigilProcess(home: root.appendingPathComponent("home"))
            let alerts = try await JudgedFrames.make(vigil, root: root, rules: Self.rules)

            let detection = try JSONDecoder().decode(
                Detection.self, from: try await vigil.run(["cat", "detect:/cam1/cam1-1700000000.jpg.json"]).outputData)
            let people = Set(detection.detections.filter { $0.label == "person" })
            try #require(!people.isEmpty)

            // COCO: both frames, the confirmed one with the detector's person boxes, the false alarm with none.
            let coco = root.appendingPathComponent("coco")
            let exported = try await vigil.run([
                "dataset", "export", "--format", "coco", coco.path, "--name", "round-1",
            ])
            #expect(exported.status == 0, "\(exported.error)")
            #expect(exported.output.contains("2 images, \(people.count) boxes, 1 false alarms without boxes"))
            let snakeCase = JSONDecoder()
            snakeCase.keyDecodingStrategy = .convertFromSnakeCase
            let document = try snakeCase.decode(
                Coco.self, from: try Data(contentsOf: coco.appendingPathComponent("annotations.json")))
            #expect(document.categories.map(\.name) == ["person"])
            let confirmed = try #require(document.images.first { $0.vigilVerdict == "confirmed" })
            let negative = try #require(document.images.first { $0.vigilVerdict == "false-alarm" })
            #expect(confirmed.fileName == "images/cam1-1700000000.jpg")
            #expect(confirmed.width == detection.image.width && confirmed.height == detection.image.height)
            let read = Set(
                document.annotations.filter { $0.imageId == confirmed.id }.map { annotation in
                    Detection.Box(
                        label: document.categories.first { $0.id == annotation.categoryId }?.name ?? "?",
                        xMin: annotation.bbox[0], yMin: annotation.bbox[1],
                        xMax: annotation.bbox[0] + annotation.bbox[2],
                        yMax: annotation.bbox[1] + annotation.bbox[3])
                })
            #expect(read == people)
            #expect(!document.annotations.contains { $0.imageId == negative.id })
            // pycocotools, as training code reads COCO, finds the same images and boxes.
            if let python = CocoReader.python {
                let annotations = coco.appendingPathComponent("annotations.json")
                let read = try await blockingWork { try CocoReader.boxes(python: python, annotations: annotations) }
                #expect(read["images/cam1-1700000000.jpg"] == people, "\(read)")
                #expect(read["images/cam1-1700000100.jpg"] == [], "\(read)")
                #expect(read.count == 2)
            } else if ProcessInfo.processInfo.environment["CI"] != nil {
                Issue.record("no pycocotools: `make test-deps` installs it in .deps/coco")
            }
            // The frames are the bytes the detector saw.
            let image = try Data(contentsOf: coco.appendingPathComponent(confirmed.fileName))
            #expect(image == (try await vigil.run(["cat", "validate:/valid/cam1-1700000000.jpg"])).outputData)

            // YOLO: the same boxes, as fractions of the frame; an empty label file for the false alarm.
            let yolo = root.appendingPathComponent("yolo")
            #expect(
                try await vigil.run(["dataset", "export", "--format", "yolo", yolo.path, "--name", "round-1-yolo"])
                    .status
                    == 0)
            #expect(try String(contentsOf: yolo.appendingPathComponent("classes.txt"), encoding: .utf8) == "person\n")
            let lines = try String(
                contentsOf: yolo.appendingPathComponent("labels/cam1-1700000000.txt"), encoding: .utf8
            ).split(separator: "\n")
            let (width, height) = (Double(detection.image.width), Double(detection.image.height))
            let back = Set(
                lines.map { line -> Detection.Box in
                    let f = line.split(separator: " ").compactMap { Double($0) }
                    return Detection.Box(
                        label: "person", xMin: Int(((f[1] - f[3] / 2) * width).rounded()),
                        yMin: Int(((f[2] - f[4] / 2) * height).rounded()),
                        xMax: Int(((f[1] + f[3] / 2) * width).rounded()),
                        yMax: Int(((f[2] + f[4] / 2) * height).rounded()))
                })
            #expect(back == people)
            #expect(
                try String(contentsOf: yolo.appendingPathComponent("labels/cam1-1700000100.txt"), encoding: .utf8)
                    .isEmpty)

            // Committed, with the image, detection and verdict commits it came from.
            let commits = try await vigil.json([Commit].self, ["log", "datasets"])
            #expect(commits.count == 2)
            let sources = Set(try #require(commits.first).provenance.inputs.map(\.repo))
            #expect(sources == ["validate", "detect", "verdicts"])
            #expect(try await vigil.run(["cat", "datasets:/round-1/annotations.json"]).status == 0)

            // Only false alarms; a folder that is not empty is refused; so is a format that is none.
            let negatives = root.appendingPathComponent("negatives")
            let only = try await vigil.run([
                "dataset", "export", "--format", "coco", negatives.path, "--verdict", "false-alarm",
            ])
            #expect(only.status == 0 && only.output.contains("1 images, 0 boxes"), "\(only.output)")
            let again = try await vigil.run(["dataset", "export", "--format", "coco", coco.path])
            #expect(again.status == 1 && again.error.contains("not empty"))
            #expect(
                try await vigil.run(["dataset", "export", "--format", "voc", root.appendingPathComponent("x").path])
                    .status
                    == 64)

            // Erasing the confirmed frame takes, in every dataset holding it, its copy, its label file and the
            // manifest and annotations that name it, and the verdict on its alert; the other frame's stay.
            let before = try #require(try await vigil.json([Commit].self, ["log", "datasets"]).first).id
            let erased = try await vigil.run(["erase", "images:/cam1-1700000000.jpg", "--reason", "request 12"])
            #expect(erased.status == 0, "\(erased.error)")
            for path in [
                "round-1/images/cam1-1700000000.jpg", "round-1/annotations.json", "round-1/manifest.json",
                "round-1-yolo/images/cam1-1700000000.jpg", "round-1-yolo/labels/cam1-1700000000.txt",
                "round-1-yolo/manifest.json",
            ] {
                let read = try await vigil.run(["cat", "datasets@\(before):/\(path)"])
                #expect(read.status == 1 && read.error.contains("[erased]"), "\(path): \(read.error)")
            }
            for path in [
                "round-1-yolo/classes.txt", "round-1-yolo/labels/cam1-1700000100.txt",
                "round-1-yolo/images/cam1-1700000100.jpg",
            ] {
                #expect(try await vigil.run(["cat", "datasets:/\(path)"]).status == 0, "\(path)")
            }
            // The false alarms' dataset never held the erased frame: its manifest stays.
            #expect(try await vigil.run(["cat", "datasets:/negatives/manifest.json"]).status == 0)
            let verdict = try await vigil.run(["cat", "verdicts@master^:/acme/\(alerts[0].id).json"])
            #expect(verdict.status == 1 && verdict.error.contains("[erased]"), "\(verdict.error)")
            #expect(try await vigil.run(["cat", "verdicts:/acme/\(alerts[1].id).json"]).status == 0)
        }
    }
}

/// pycocotools in the venv `make test-deps` makes: an exported COCO file read by the reference reader.
enum CocoReader {
    static var python: URL? {
        let path =
            ProcessInfo.processInfo.environment["VIGIL_COCO_PYTHON"]
            ?? Schemathesis.repository.appendingPathComponent(".deps/coco/bin/python").path
        return FileManager.default.isExecutableFile(atPath: path) ? URL(fileURLWithPath: path) : nil
    }

    /// Each image's boxes as pycocotools reads them (its index, category names, `bbox` back to corners).
    static func boxes(
        python: URL, annotations: URL
    ) throws -> [String: Set<ProcessTests.DatasetCLITests.Detection.Box>] {
        let script = """
            import json, sys
            from pycocotools.coco import COCO
            coco = COCO(sys.argv[1])
            out = {}
            for image in coco.loadImgs(coco.getImgIds()):
                boxes = []
                for a in coco.loadAnns(coco.getAnnIds(imgIds=[image["id"]])):
                    x, y, w, h = a["bbox"]
                    boxes.append({"label": coco.loadCats([a["category_id"]])[0]["name"], "xMin": x, "yMin": y,
                                  "xMax": x + w, "yMax": y + h})
                out[image["file_name"]] = boxes
            print(json.dumps(out))
            """
        let process = Process()
        process.executableURL = python
        process.arguments = ["-c", script, annotations.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CLIFailure(
                arguments: ["pycocotools", annotations.path],
                result: .init(
                    status: process.terminationStatus, output: String(decoding: data, as: UTF8.self), error: ""))
        }
        // pycocotools says what it is doing on standard output; the answer is the last line.
        let last = String(decoding: data, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        let decoded = try JSONDecoder().decode(
            [String: [ProcessTests.DatasetCLITests.Detection.Box]].self, from: Data(last.utf8))
        return decoded.mapValues(Set.init)
    }
}
