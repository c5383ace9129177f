import Foundation
import VigilPipeline
import VigilStore

/// The `threats` stage: a `cross` of detection records and the customers' rules (a side input, so a rules
/// change judges new images only; `vigil pipeline run threats --recompute` re-judges history). For each record
/// that matches a customer's rules it writes a `ThreatRecord` and puts the image beside it, storing no bytes.
public final class ThreatsStage: Stage {
    /// Input names: the detection records (glob `/*/*`) and the rules (glob `/`).
    public let detections: String
    public let rules: String
    /// The rule book of the last rules tree seen: parsed once per rules version, not once per image.
    private let cache = RuleBookCache()
    /// A datum is a lookup in the rule book: the job runs inside detect's, its commit published with detect's.
    public var joinsUpstreamCommit: Bool { true }
    /// Rule lookups and store reads (with time-outs of their own): cancelling would not end it sooner.
    public var endsWhenCancelled: Bool { false }

    public init(detections: String = "detect", rules: String = "rules") {
        self.detections = detections
        self.rules = rules
    }

    public convenience init(_ configuration: StageConfiguration) throws {
        try configuration.allowOnly(["detections", "rules"])
        self.init(
            detections: configuration.options["detections"] ?? "detect",
            rules: configuration.options["rules"] ?? "rules")
    }

    public func process(_ datum: DatumContext) async throws {
        let rulesInput = try datum.input(rules)
        let book = try await ruleBook(rulesInput, datum: datum)
        let decoder = JSONDecoder()
        let detectInput = try datum.input(detections)
        for file in try await datum.files(of: detectInput) where file.path.hasSuffix(".json") {
            let record = try decoder.decode(DetectionRecord.self, from: try await datum.read(file.entry))
            let time = Date(timeIntervalSince1970: TimeInterval(record.time))
            guard let customer = book.customer(of: record.device),
                let match = customer.judge(time: time, detections: record.detections)
            else { continue }
            let imagePath = "/\(record.device)/\(record.image.name)"
            guard let imageHash = BlobHash(hex: record.image.sha256) else {
                throw PipelineError(
                    .stageFailed, "\(file.path) names a malformed image hash", value: record.image.sha256)
            }
            try await datum.link(imagePath, toBlob: imageHash, size: record.image.bytes)
            let contacts = customer.escalation.order.compactMap { name in customer.contacts.first { $0.name == name } }
            let threat = ThreatRecord(
                customer: match.customer, customerName: match.customerName, device: record.device, time: record.time,
                isoTime: record.isoTime, localTime: match.localTime, labels: match.labels, image: record.image,
                imagePath: imagePath,
                detection: "\(detectInput.repo)@\(detectInput.commit):\(file.path)",
                rules: .init(commit: rulesInput.commit, tree: rulesInput.hash.hex), model: record.model,
                contacts: contacts, acknowledgeWithin: customer.escalation.acknowledgeWithin)
            try await datum.write(imagePath + ".json", data: try threat.encoded())
            datum.log(
                "\(record.image.name): threat for \(match.customer): \(match.labels.map(\.label).joined(separator: ", "))"
            )
        }
    }

    /// The rule book of every `.yaml`, `.yml` and `.json` file under the rules input, cached by tree hash.
    private func ruleBook(_ input: DatumInput, datum: DatumContext) async throws -> RuleBook {
        do {
            return try await cache.book(tree: input.hash) {
                var files: [(name: String, text: String)] = []
                for file in try await datum.files(of: input) where RuleBookCache.isRuleFile(file.path) {
                    files.append(
                        (
                            String(file.path.dropFirst()),
                            String(decoding: try await datum.read(file.entry), as: UTF8.self)
                        ))
                }
                guard !files.isEmpty else {
                    throw PipelineError(
                        .stageFailed,
                        "the rules input '\(rules)' holds no .yaml, .yml or .json file (see docs/RULES.md)")
                }
                return files
            }
        } catch let error as RuleError {
            throw PipelineError(.stageFailed, "the rules at \(input.repo)@\(input.commit) are invalid: \(error)")
        }
    }
}
