import Foundation
import Logging
import Testing
import VigilPipeline
import VigilStore

@testable import VigilStages
@testable import VigilVision

@Suite("Analytics")
struct AnalyticsTests {
    static func threat(_ device: String, _ customer: String, _ time: Int64, _ labels: [String]) -> ThreatRecord {
        ThreatRecord(
            customer: customer, customerName: customer, device: device, time: time, isoTime: "", localTime: "",
            labels: labels.map { RuleMatch.Label(label: $0, confidence: 0.9, count: 1, minConfidence: 0.5) },
            image: .init(name: "\(device)-\(time).jpg", width: 640, height: 480, bytes: 1, sha256: "", address: ""),
            imagePath: "", detection: "", rules: .init(commit: "", tree: ""),
            model: .init(name: "m", sha256: "", labels: 80), contacts: [], acknowledgeWithin: 60)
    }

    @Test func countsAndChartsOfKnownData() async throws {
        let store = VersionedStore(
            blobs: InMemoryBlobStore(), metadata: try SQLiteMetadataStore(), logger: Logger(label: "test"))
        let environment = EngineEnvironment(
            store: store, jobs: try SQLiteJobStore(), stages: .vigil, scratch: FileManager.default.temporaryDirectory,
            logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        try await store.createRepo("threats")
        try await store.createRepo("validate")
        // 2025-11-22 00:00 UTC is 1763769600.
        let threats: [ThreatRecord] = [
            Self.threat("frontdoor", "acme", 1_763_769_600 + 3_600 * 2, ["person"]),  // day 22, 02h
            Self.threat("frontdoor", "acme", 1_763_769_600 + 3_600 * 2 + 60, ["person", "car"]),  // day 22, 02h
            Self.threat("garage", "smiths", 1_763_769_600 + 86_400 + 3_600 * 23, ["bus"]),  // day 23, 23h
        ]
        let writer = try await store.openCommit(repo: "threats")
        for threat in threats {
            try await writer.put("/\(threat.device)/\(threat.image.name).json", data: try threat.encoded())
            try await writer.put("/\(threat.device)/\(threat.image.name)", data: Data("image".utf8))
        }
        try await writer.finish()
        let invalid = try await store.openCommit(repo: "validate")
        for (name, code) in [
            ("garage-1.jpg", "greyscale"), ("garage-2.jpg", "greyscale"), ("backyard-3.jpg", "corrupt-image"),
        ] {
            let reason = ValidateStage.Reason(
                image: name, code: code, message: "m", rule: nil, threshold: nil,
                measured: .init(bytes: 1), device: String(name.split(separator: "-")[0]), time: nil)
            try await invalid.put("/invalid/\(name).reason.json", data: try JSONEncoder().encode(reason))
        }
        try await invalid.put("/valid/frontdoor-9.jpg", data: Data("valid image".utf8))
        try await invalid.finish()
        let spec = """
            {name: stats, input: {cross: [{pfs: {repo: threats, glob: /}}, {pfs: {repo: validate, glob: /}}]},
             transform: {stage: analytics}}
            """
        try await PipelineManager(environment: environment).create(try PipelineSpecParser.parse(spec), source: spec)
        let job = try #require(try await PipelineEngine(environment: environment).runUntilIdle().first)
        #expect(job.state == .finished)

        let counts = try JSONDecoder().decode(
            AlertCounts.self, from: try await store.read(Address(repo: "stats", path: "/counts.json")))
        #expect(counts.alerts.total == 3)
        #expect(counts.alerts.byDevice == ["frontdoor": 2, "garage": 1])
        #expect(counts.alerts.byCustomer == ["acme": 2, "smiths": 1])
        #expect(counts.alerts.byDay == ["2025-11-22": 2, "2025-11-23": 1])
        #expect(counts.alerts.byHour == ["02": 2, "23": 1])
        #expect(counts.alerts.byLabel == ["person": 2, "car": 1, "bus": 1])
        #expect(counts.invalid.byDevice == ["garage": 2, "backyard": 1])
        #expect(counts.invalid.byDeviceAndReason == ["garage": ["greyscale": 2], "backyard": ["corrupt-image": 1]])
        let csv = String(decoding: try await store.read(Address(repo: "stats", path: "/counts.csv")), as: UTF8.self)
        #expect(csv.contains("alerts-by-day,2025-11-22,2\n"))
        #expect(csv.contains("invalid-by-device-and-reason,garage/greyscale,2\n"))

        // Every chart renders to a PNG, and carries one bar per category with its value.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-charts-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let expected: [String: [String: Int]] = [
            "by-device.svg": counts.alerts.byDevice, "by-day.svg": counts.alerts.byDay,
            "by-label.svg": counts.alerts.byLabel, "invalid-by-reason.svg": counts.invalid.byReason,
        ]
        for name in [
            "by-device.svg", "by-day.svg", "by-hour.svg", "by-label.svg", "invalid-by-device.svg",
            "invalid-by-reason.svg",
        ] {
            let svg = String(decoding: try await store.read(Address(repo: "stats", path: "/\(name)")), as: UTF8.self)
            if let bars = expected[name] {
                for (label, value) in bars {
                    #expect(svg.contains("data-label=\"\(label)\" data-value=\"\(value)\""), "\(name): \(label)")
                }
                #expect(svg.components(separatedBy: "class=\"bar\"").count - 1 == bars.count)
            }
            #expect(svg.contains("<title>"))
            let file = folder.appendingPathComponent(name)
            try Data(svg.utf8).write(to: file)
            let png = file.deletingPathExtension().appendingPathExtension("png")
            let render = Process()
            render.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            render.arguments = ["rsvg-convert", "-o", png.path, file.path]
            try render.run()
            render.waitUntilExit()
            #expect(render.terminationStatus == 0, "rsvg-convert failed on \(name)")
            let bytes = try Data(contentsOf: png)
            #expect(bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) && bytes.count > 1_000, "\(name)")
        }
        // The hour chart always has 24 bars.
        let hours = String(decoding: try await store.read(Address(repo: "stats", path: "/by-hour.svg")), as: UTF8.self)
        #expect(hours.components(separatedBy: "class=\"bar\"").count - 1 == 24)
    }
}
