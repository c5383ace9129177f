import Foundation

/// Upload → alert by kind of frame (format and size): a run's p99 is set by a few frames, and this says which
/// kind they are and where their time goes (a 1920×1080 PNG's upload and decode are many times a JPEG's).
struct KindBreakdown: Encodable {
    /// `PNG 1920×1080`, `JPEG 640×480`.
    var kind: String
    var frames: Int
    var p50: Double
    var p99: Double
    /// The detector alone on the same frames, each at the time it was sent (`--paced-baseline`): p50.
    var pacedDetectorAloneP50: Double?
    /// The p50 of the frames' own steps where the kinds differ most (with `--steps`).
    var spoolP50: Double?
    var judgeP50: Double?
    var inferenceP50: Double?

    /// One entry per kind among `latencies` (frame name → upload → alert, ms), the largest frames first.
    static func make(
        latencies: [String: Double], frameOf: (String) -> VariedFrames.Frame?, paced: [String: Double],
        steps: [String: [String: Double]]
    ) -> [KindBreakdown] {
        var byKind: [String: (pixels: Int, names: [String])] = [:]
        for name in latencies.keys {
            guard let frame = frameOf(name) else { continue }
            let kind = "\(frame.fileExtension == "png" ? "PNG" : "JPEG") \(frame.width)×\(frame.height)"
            byKind[kind, default: (frame.width * frame.height, [])].names.append(name)
        }
        func p50(_ step: String, of names: [String]) -> Double? {
            let values = names.compactMap { steps[$0]?[step] }
            return values.isEmpty ? nil : median(values)
        }
        return byKind.sorted { ($0.value.pixels, $0.key) > ($1.value.pixels, $1.key) }.map { kind, entry in
            let times = entry.names.compactMap { latencies[$0] }
            let pacedTimes = entry.names.compactMap { paced[$0] }
            return KindBreakdown(
                kind: kind, frames: times.count, p50: median(times), p99: percentile(times, 99),
                pacedDetectorAloneP50: pacedTimes.isEmpty ? nil : median(pacedTimes),
                spoolP50: p50("spool", of: entry.names), judgeP50: p50("judge", of: entry.names),
                inferenceP50: p50("inference", of: entry.names))
        }
    }

    static func table(_ kinds: [KindBreakdown]) -> String {
        func cell(_ value: Double?) -> String { value.map { String(format: "%8.1f", $0) } ?? "       –" }
        var lines = [
            "  kind               frames   p50 ms   p99 ms   paced p50   spool p50   judge p50   inference p50"
        ]
        for kind in kinds {
            lines.append(
                "  " + kind.kind.padding(toLength: 17, withPad: " ", startingAt: 0)
                    + String(format: "%8d %8.1f %8.1f", kind.frames, kind.p50, kind.p99) + "   "
                    + cell(kind.pacedDetectorAloneP50) + "    " + cell(kind.spoolP50) + "    " + cell(kind.judgeP50)
                    + "        " + cell(kind.inferenceP50))
        }
        return lines.joined(separator: "\n")
    }
}
