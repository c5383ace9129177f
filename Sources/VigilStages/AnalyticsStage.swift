import Foundation
import VigilPipeline
import VigilStore

/// The `analytics` stage: one datum over the whole `threats` and `validate` repos (`cross` of both at `/`),
/// writing `counts.json`, `counts.csv` and the bar charts of `AlertCounts`. Reads only threat records and
/// `/invalid/*.reason.json`, never an image.
public struct AnalyticsStage: Stage {
    public let threats: String
    public let validate: String
    /// Counting in process, over store reads with time-outs of their own: cancelling would not end it sooner.
    public var endsWhenCancelled: Bool { false }

    public init(threats: String = "threats", validate: String = "validate") {
        self.threats = threats
        self.validate = validate
    }

    public init(_ configuration: StageConfiguration) throws {
        try configuration.allowOnly(["threats", "validate"])
        self.init(
            threats: configuration.options["threats"] ?? "threats",
            validate: configuration.options["validate"] ?? "validate")
    }

    public func process(_ datum: DatumContext) async throws {
        var counts = AlertCounts()
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let threatsInput = try datum.input(threats)
        for file in try await datum.files(of: threatsInput)
        where file.path.hasSuffix(".jpg.json")
            || file.path.hasSuffix(".jpeg.json") || file.path.hasSuffix(".png.json")
        {
            counts.add(try decoder.decode(ThreatRecord.self, from: try await datum.read(file.entry)))
        }
        let validateInput = try datum.input(validate)
        for file in try await datum.files(of: validateInput, under: "/invalid")
        where file.path.hasSuffix(".reason.json") {
            counts.add(invalid: try decoder.decode(ValidateStage.Reason.self, from: try await datum.read(file.entry)))
        }
        counts.sources = [threatsInput, validateInput].map { "\($0.repo)@\($0.commit)" }
        try await datum.write("/counts.json", data: try ValidateStage.encoder.encode(counts))
        try await datum.write("/counts.csv", data: Data(counts.csv.utf8))
        for (name, chart) in counts.charts { try await datum.write("/\(name)", data: Data(chart.svg.utf8)) }
        datum.log("\(counts.alerts.total) alerts, \(counts.invalid.total) invalid images")
    }
}
