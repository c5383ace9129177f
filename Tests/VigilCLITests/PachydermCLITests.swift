import Foundation
import ServerTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

extension ProcessTests {
    /// Pachyderm's specs run in Vigil, and Vigil's pipelines exported for Pachyderm run as a Pachyderm worker
    /// would run them: a datum at a time, laid out under /pfs, with the exported command.
    @Suite("Pachyderm specs, both ways", .serialized)
    struct PachydermCLITests {
        static let data = SchemaCheck.root.appendingPathComponent("Tests/Data/pachyderm")
        static let photos = VisionCLITests.samples
        static let schema = "Tests/Data/pachyderm/CreatePipelineRequest.schema.json"

        struct Entry: Decodable { var name: String }

        /// The width and height in a PNG's header; nil for anything else.
        static func pngSize(_ data: Data) -> (Int, Int)? {
            let bytes = [UInt8](data.prefix(24))
            guard bytes.count == 24, bytes[0..<8] == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] else {
                return nil
            }
            func number(_ at: Int) -> Int { bytes[at..<at + 4].reduce(0) { $0 << 8 | Int($1) } }
            return (number(16), number(20))
        }

        /// The tutorial's code reads /pfs/images itself, so it runs only where the engine can mount the datum
        /// there: as root, which also lets the test put the image's `/edges.py` where the spec runs it from.
        @Test(.enabled(if: geteuid() == 0, "needs root: /pfs is mounted per command, and /edges.py is put in /"))
        func theTutorialsPipelinesRunUnchanged() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let script = URL(fileURLWithPath: "/edges.py")
            #expect(!FileManager.default.fileExists(atPath: script.path), "a /edges.py that is not the test's is there")
            try FileManager.default.copyItem(at: Self.data.appendingPathComponent("edges.py"), to: script)
            defer { try? FileManager.default.removeItem(at: script) }
            chmod(script.path, 0o644)

            let vigil = VigilProcess(home: root.appendingPathComponent("home"))
            try await vigil.run(["init"])
            try await vigil.run(["repo", "create", "images"])
            let put = try await vigil.run(
                ["put", "images@master:/"]
                    + ["bus.jpg", "zidane.jpg"].map { Self.photos.appendingPathComponent($0).path })
            #expect(put.status == 0, "\(put.error)")
            for name in ["edges", "montage"] {
                let created = try await vigil.run([
                    "pipeline", "create", Self.data.appendingPathComponent("\(name).json").path,
                ])
                #expect(created.status == 0, "\(created.error)")
                // The image is kept and shown, and named once, in one line, as not applied here.
                #expect(created.error.split(separator: "\n").count == 1 && created.error.contains("transform.image"))
            }
            let ran = try await vigil.run(["engine", "--until-idle"])
            #expect(
                ran.status == 0 && ran.output.contains("edges: job") && ran.output.contains("montage: job"), "\(ran)")

            // One edge map per image, of the image's size (bus.jpg is 810×1080, zidane.jpg 1280×720).
            let edges = try await vigil.json([Entry].self, ["ls", "edges@master:/"]).map(\.name)
            #expect(edges == ["bus.png", "zidane.png"])
            for (name, width, height) in [("bus.png", 810, 1080), ("zidane.png", 1280, 720)] {
                let bytes = try await vigil.run(["cat", "edges@master:/\(name)"])
                let size = Self.pngSize(bytes.outputData)
                #expect(size?.0 == width && size?.1 == height, "\(name): \(String(describing: size))")
            }
            // The montage tiles all four pictures at 300×300 plus borders.
            let montage = try await vigil.run(["cat", "montage@master:/montage.png"])
            let size = try #require(Self.pngSize(montage.outputData))
            #expect(size.0 >= 600 && size.1 >= 300, "\(size)")

            let inspect = try await vigil.run(["pipeline", "inspect", "edges"])
            #expect(inspect.output.contains("Image:       pachyderm/opencv:1.0"))
            // And back: the spec Vigil writes for Pachyderm is the tutorial's own pipeline, valid for Pachyderm.
            let export = try await vigil.run(["pipeline", "export", "edges", "--format", "pachyderm"])
            #expect(export.status == 0, "\(export.error)")
            let (status, output) = try await SchemaCheck.check(schema: Self.schema, [Data(export.output.utf8)])
            #expect(status == 0, "\(output)")
            #expect(
                export.output.contains(#""image" : "pachyderm/opencv:1.0""#) && export.output.contains(#""/edges.py""#))
        }

        /// Runs `vigil stage` as a Pachyderm worker would: the exported command on one datum's folder.
        static func runDatum(
            _ command: [String], inputs: [String: [(path: String, bytes: Data)]]
        ) async throws -> [String: Data] {
            let folder = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: folder) }
            let pfs = folder.appendingPathComponent("pfs")
            for (input, files) in inputs {
                for file in files {
                    let target = pfs.appendingPathComponent(input).appendingPathComponent(String(file.path.dropFirst()))
                    try FileManager.default.createDirectory(
                        at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
                    try file.bytes.write(to: target)
                }
            }
            try FileManager.default.createDirectory(
                at: pfs.appendingPathComponent("out"), withIntermediateDirectories: true)
            // Pachyderm mounts the datum at /pfs; this worker has it in a folder of its own.
            var worker = VigilProcess(home: folder)
            worker.passesHome = false
            let arguments = Array(command.dropFirst()) + ["--pfs", pfs.path]
            let result = try await worker.run(arguments)
            guard result.status == 0 else { throw CLIFailure(arguments: arguments, result: result) }
            var outputs: [String: Data] = [:]
            let out = pfs.appendingPathComponent("out")
            for case let file as URL in FileManager.default.enumerator(at: out, includingPropertiesForKeys: nil)
                ?? .init()
            where !file.hasDirectoryPath {
                outputs[String(file.path.dropFirst(out.path.count))] = try Data(contentsOf: file)
            }
            return outputs
        }

        struct Detections: Decodable, Equatable {
            struct Box: Decodable, Equatable {
                var label: String
                var confidence: Double
                var xMin, yMin, xMax, yMax: Int
            }
            var detections: [Box]
        }

        @Test func exportedBuiltInStagesComputeWhatVigilComputes() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let vigil = VigilProcess(home: root.appendingPathComponent("home"))
            try await vigil.run(["init"])
            try await vigil.run(["repo", "create", "uploads"])
            let frames = root.appendingPathComponent("frames")
            try FileManager.default.createDirectory(at: frames, withIntermediateDirectories: true)
            try FileManager.default.copyItem(
                at: Self.photos.appendingPathComponent("bus.jpg"),
                to: frames.appendingPathComponent("cam1-1700000000.jpg"))
            try FileManager.default.copyItem(
                at: Self.photos.appendingPathComponent("zidane.jpg"),
                to: frames.appendingPathComponent("cam2-1700000100.jpg"))
            try Data("not a picture".utf8).write(to: frames.appendingPathComponent("cam3-1700000200.jpg"))
            let names = try FileManager.default.contentsOfDirectory(atPath: frames.path).sorted()
            try await vigil.run(["put", "uploads@master:/"] + names.map { frames.appendingPathComponent($0).path })
            let specs = [
                ("validate", "name: validate\ninput: {pfs: {repo: uploads, glob: /*}}\ntransform: {stage: validate}\n"),
                (
                    "detect",
                    "name: detect\ninput: {pfs: {repo: validate, glob: /valid/*}}\n"
                        + "transform: {stage: detect, options: {intraOpThreads: 1}}\n"
                ),
            ]
            for (name, text) in specs {
                let file = root.appendingPathComponent("\(name).yaml")
                try Data(text.utf8).write(to: file)
                #expect(try await vigil.run(["pipeline", "create", file.path]).status == 0)
            }
            #expect(try await vigil.run(["engine", "--until-idle"]).status == 0)

            var exported: [String: [String]] = [:]
            for (name, _) in specs {
                let export = try await vigil.run(["pipeline", "export", name, "--image", "registry.example/vigil:test"])
                #expect(export.status == 0 && export.error.isEmpty, "\(export.error)")
                let (status, output) = try await SchemaCheck.check(schema: Self.schema, [Data(export.output.utf8)])
                #expect(status == 0, "\(output)")
                let spec = try #require(
                    try JSONSerialization.jsonObject(with: Data(export.output.utf8)) as? [String: Any])
                let transform = try #require(spec["transform"] as? [String: Any])
                #expect(transform["image"] as? String == "registry.example/vigil:test")
                exported[name] = try #require(transform["cmd"] as? [String])
            }
            #expect(exported["detect"] == ["vigil", "stage", "detect", "--option", "intraOpThreads=1"])

            // validate over /*: a datum per upload, each under /pfs/uploads.
            var validated: [String: Data] = [:]
            for name in names {
                let bytes = try Data(contentsOf: frames.appendingPathComponent(name))
                let outputs = try await Self.runDatum(
                    try #require(exported["validate"]), inputs: ["uploads": [("/" + name, bytes)]])
                validated.merge(outputs) { $1 }
            }
            #expect(validated.keys.filter { $0.hasPrefix("/valid/") }.count == 2)
            #expect(validated.keys.contains { $0.hasPrefix("/invalid/cam3-1700000200.jpg") })
            for (path, bytes) in validated {
                let stored = try await vigil.run(["cat", "validate@master:\(path)"])
                #expect(stored.status == 0 && stored.outputData == bytes, "\(path) differs from Vigil's own")
            }
            #expect(try await vigil.json([Entry].self, ["ls", "validate@master:/valid"]).count == 2)

            // detect over /valid/*: a datum per valid frame, at its path under /pfs/validate.
            for (path, bytes) in validated where path.hasPrefix("/valid/") {
                let outputs = try await Self.runDatum(
                    try #require(exported["detect"]), inputs: ["validate": [(path, bytes)]])
                #expect(outputs.count == 1)
                for (record, data) in outputs {
                    let stored = try await vigil.run(["cat", "detect@master:\(record)"])
                    #expect(stored.status == 0, "\(record): \(stored.error)")
                    let mine = try JSONDecoder().decode(Detections.self, from: data)
                    let vigils = try JSONDecoder().decode(Detections.self, from: stored.outputData)
                    #expect(mine == vigils && !mine.detections.isEmpty, "\(record)")
                }
            }
        }

        @Test func aStageWithoutADatumSaysWhatIsMissing() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            try FileManager.default.createDirectory(
                at: root.appendingPathComponent("out"), withIntermediateDirectories: true)
            var stage = VigilProcess(home: root)
            stage.passesHome = false
            let cases = [
                (["stage", "validate", "--pfs", root.path], "no inputs under"),
                (["stage", "validate", "--pfs", root.appendingPathComponent("missing").path], "no folder"),
                (["stage", "validate", "--option", "oops", "--pfs", root.path], "not KEY=VALUE"),
            ]
            for (arguments, message) in cases {
                let result = try await stage.run(arguments)
                #expect(result.status != 0 && result.error.contains(message), "\(result.error)")
            }
        }
    }
}
