import Foundation
import Testing
import VigilStore

extension ProcessTests {
    @Suite("vigil detect and stats as a user runs them", .serialized)
    struct VisionCLITests {
        struct Row: Decodable {
            struct Found: Decodable {
                var label: String
                var confidence: Double
            }

            var file: String
            var width: Int
            var detections: [Found]
        }

        /// The sample photos `make setup` unpacks (the test command runs it first).
        static var samples: URL {
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent(".deps/model/samples")
        }

        @Test func detectPrintsWhatTheModelSees() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let vigil = VigilProcess(home: root.appendingPathComponent("home"))
            let bus = Self.samples.appendingPathComponent("bus.jpg").path
            let rows = try await vigil.json([Row].self, ["detect", bus])
            #expect(rows.count == 1 && rows[0].width == 810)
            #expect(rows[0].detections.contains { $0.label == "bus" && $0.confidence > 0.5 })
            #expect(rows[0].detections.filter { $0.label == "person" && $0.confidence > 0.5 }.count >= 3)
            let table = try await vigil.run(["detect", bus])
            #expect(table.status == 0 && table.output.contains("person") && table.output.contains("yolov4-tiny"))

            let notAnImage = root.appendingPathComponent("notes.txt")
            try Data("hello".utf8).write(to: notAnImage)
            let failed = try await vigil.run(["detect", notAnImage.path])
            #expect(failed.status == 1)
            #expect(failed.error.hasPrefix("vigil: error: ") && failed.error.contains("[bad-image]"), "\(failed.error)")
            #expect(failed.error.split(separator: "\n").count == 1)
        }

        @Test func statsReadsTheAnalyticsOutputOrSaysWhatIsMissing() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let vigil = VigilProcess(home: root.appendingPathComponent("home"))
            try await vigil.run(["init"])
            let missing = try await vigil.run(["stats"])
            #expect(missing.status == 1 && missing.error.contains("[repo-not-found]"), "\(missing.error)")
        }
    }
}
