import Foundation
import VigilStages
import VigilStore

/// A shadow run's report: how alerts would change if the detections of one detect pipeline's output (B, a
/// candidate model or threshold run over the same frames) replaced another's (A, the one in service). Each frame
/// both judged is put to the customers' current rules with A's detections and with B's, with the code the
/// `threats` stage runs; where people gave a verdict on the frame's alert, the report says which false alarms B
/// would have removed and which confirmed alerts it keeps. Per label too. Nothing is written.
public struct ModelComparison: Sendable {
    public let store: VersionedStore
    public let verdicts: VerdictBook
    public let rulesRepo: String

    public init(store: VersionedStore, verdicts: VerdictBook, rulesRepo: String) {
        self.store = store
        self.verdicts = verdicts
        self.rulesRepo = rulesRepo
    }

    /// One side: the detect repo's commit read and the models its records name.
    public struct Side: Sendable, Codable, Equatable {
        public var repo: String
        public var commit: String
        /// Each model's version (`Detector.ModelIdentity.version`), how many records named it.
        public var models: [String: Int]
        public var frames: Int
        /// Frames that would raise an alert under the current rules.
        public var alerts: Int
    }

    /// Counts for frames both sides judged, over all labels or for one.
    public struct Counts: Sendable, Codable, Equatable {
        /// Frames that would alert with A's detections, with B's; alerts B adds and B drops.
        public var alertsA = 0
        public var alertsB = 0
        public var gained = 0
        public var lost = 0
        /// Frames with a verdict: false alarms B no longer raises, or still raises; confirmed alerts B still
        /// raises, or misses.
        public var falseAlarmsRemoved = 0
        public var falseAlarmsKept = 0
        public var confirmedKept = 0
        public var confirmedLost = 0

        public init() {}
    }

    public struct LabelCounts: Sendable, Codable, Equatable {
        public var label: String
        public var counts: Counts
    }

    /// A frame whose alert B would change.
    public struct Change: Sendable, Codable, Equatable {
        public var frame: String
        public var change: String
        public var labelsA: [String]
        public var labelsB: [String]
        public var verdict: String?

        public init(frame: String, change: String, labelsA: [String], labelsB: [String], verdict: String?) {
            self.frame = frame
            self.change = change
            self.labelsA = labelsA
            self.labelsB = labelsB
            self.verdict = verdict
        }
    }

    public struct Report: Sendable, Codable, Equatable {
        public var a: Side
        public var b: Side
        /// The rules commit the frames were judged with.
        public var rules: String
        /// Frames both sides judged (the others are counted in `onlyA` and `onlyB` and left out).
        public var frames: Int
        public var onlyA: Int
        public var onlyB: Int
        public var counts: Counts
        public var labels: [LabelCounts]
        /// Every frame whose alert changes (gained or lost), by name.
        public var changes: [Change]
    }

    /// Compares detect repos `a` and `b` (each `repo` or `repo@ref`).
    public func compare(_ a: String, _ b: String) async throws -> Report {
        guard let rulesHead = try await store.resolveCommit(rulesRepo, ref: nil),
            let book = try await RuleHistory(store: store, repo: rulesRepo).current()
        else {
            throw VigilError(
                .badArgument, "there are no rules to judge frames by: put customers.yaml into '\(rulesRepo)' first",
                value: rulesRepo)
        }
        let (sideA, recordsA) = try await records(a)
        let (sideB, recordsB) = try await records(b)
        let judged = try await verdicts.all()
        let verdictOf = Dictionary(
            judged.map { ("\($0.device)-\($0.time)", $0.verdict) }, uniquingKeysWith: { _, latest in latest })

        var report = Report(
            a: sideA, b: sideB, rules: rulesHead.id, frames: 0, onlyA: 0, onlyB: 0, counts: Counts(), labels: [],
            changes: [])
        var labels: [String: Counts] = [:]
        for (path, recordA) in recordsA.sorted(by: { $0.key < $1.key }) {
            guard let recordB = recordsB[path] else {
                report.onlyA += 1
                continue
            }
            report.frames += 1
            let time = Date(timeIntervalSince1970: TimeInterval(recordA.time))
            let matchA = book.judge(device: recordA.device, time: time, detections: recordA.detections)
            let matchB = book.judge(device: recordB.device, time: time, detections: recordB.detections)
            let labelsA = Set(matchA?.labels.map(\.label) ?? [])
            let labelsB = Set(matchB?.labels.map(\.label) ?? [])
            let verdict = verdictOf["\(recordA.device)-\(recordA.time)"]
            report.counts.add(alertA: matchA != nil, alertB: matchB != nil, verdict: verdict)
            for label in labelsA.union(labelsB) {
                labels[label, default: Counts()].add(
                    alertA: labelsA.contains(label), alertB: labelsB.contains(label), verdict: verdict)
            }
            if (matchA == nil) != (matchB == nil) {
                report.changes.append(
                    Change(
                        frame: recordA.image.name, change: matchA == nil ? "gained" : "lost", labelsA: labelsA.sorted(),
                        labelsB: labelsB.sorted(), verdict: verdict?.rawValue))
            }
        }
        report.onlyB = recordsB.keys.filter { recordsA[$0] == nil }.count
        report.a.alerts = report.counts.alertsA
        report.b.alerts = report.counts.alertsB
        report.labels = labels.sorted { $0.key < $1.key }.map { LabelCounts(label: $0.key, counts: $0.value) }
        return report
    }

    /// The detection records of a detect repo at a ref, by path, and what they say of themselves.
    private func records(_ text: String) async throws -> (Side, [String: DetectionRecord]) {
        let address = try Address.parse(text)
        guard address.path == "/" else {
            throw VigilError(
                .badArgument, "'\(text)': name a detect output as repo or repo@ref, without a path", value: text)
        }
        let repo = address.repo
        guard let head = try await store.resolveCommit(repo, ref: address.ref) else {
            throw VigilError(.commitNotFound, "'\(text)' has no commit yet: nothing to compare", value: text)
        }
        var records: [String: DetectionRecord] = [:]
        var models: [String: Int] = [:]
        let decoder = JSONDecoder()
        try await store.trees.walkFiles(under: head.tree.hash) { path, entry in
            guard path.hasSuffix(".json") else { return }
            let record: DetectionRecord
            do {
                record = try decoder.decode(DetectionRecord.self, from: try await store.blobs.get(entry.hash))
            } catch is DecodingError {
                throw VigilError(
                    .badArgument, "\(repo):\(path) is not a detection record; compare the outputs of detect pipelines",
                    value: path)
            }
            records[path] = record
            models[record.model.version, default: 0] += 1
        }
        return (Side(repo: repo, commit: head.id, models: models, frames: records.count, alerts: 0), records)
    }
}

extension ModelComparison.Counts {
    mutating func add(alertA: Bool, alertB: Bool, verdict: AlertVerdict.Kind?) {
        if alertA { alertsA += 1 }
        if alertB { alertsB += 1 }
        if alertB && !alertA { gained += 1 }
        if alertA && !alertB { lost += 1 }
        guard alertA, let verdict else { return }
        switch (verdict, alertB) {
        case (.falseAlarm, false): falseAlarmsRemoved += 1
        case (.falseAlarm, true): falseAlarmsKept += 1
        case (.confirmed, true): confirmedKept += 1
        case (.confirmed, false): confirmedLost += 1
        }
    }
}
