import Foundation
import InMemoryTracing
import Tracing

/// Where upload → alert goes, step by step: read from the spans of the frames' own traces (the same spans
/// `--otel-endpoint` exports), recorded by an in-memory tracer in the benchmark's process.
struct StepBreakdown: Sendable {
    let tracer: InMemoryTracer

    struct Step: Encodable {
        var step: String
        var spans: Int
        var p50: Double
        var p99: Double
        /// When the step starts, from the start of its frame's upload (p50).
        var startsAt: Double
        /// When the step ends, from the start of its frame's upload (p50): the steps laid end to end, so the
        /// ones a frame's alert waits for stand out from those that overlap them.
        var endsAt: Double
    }

    /// The steps in the order a frame meets them. `record` is written by two stages: it is told apart by its
    /// datum (`record (detect)`).
    static let order = [
        "PUT", "/v1/images/{name}", "spool", "commit", "queued validate", "job start validate", "datum validate",
        "judge", "output commit validate", "queued detect", "job start detect", "datum detect", "decode", "inference",
        "record (detect)", "output commit detect", "queued threats", "job start threats", "datum threats",
        "record (threats)", "output commit threats",
        "queued alert", "deliver", "POST", outsideInference,
    ]

    /// Not a span: each frame's trace from its upload to its alert's POST, less the frame's inference.
    static let outsideInference = "all but inference"

    /// Bootstraps the process's tracer (once per process).
    static func start() -> StepBreakdown {
        let tracer = InMemoryTracer(recordInjections: false, recordExtractions: false)
        InstrumentationSystem.bootstrap(tracer)
        return StepBreakdown(tracer: tracer)
    }

    /// Where the slowest frames' time went: each step of their traces that took a millisecond or more.
    struct SlowFrame: Encodable {
        var frame: String
        var milliseconds: Double
        var steps: [String]
    }

    /// Each step's durations over the traces of the uploads named in `frames`, the `slowest` frames' own steps,
    /// and each frame's step durations (frame → step → ms, a step met twice counted once: its first); the spans
    /// recorded so far are taken out (the next window starts afresh).
    func steps(
        of frames: Set<String>, slowest: Int = 3
    ) -> (steps: [Step], slowest: [SlowFrame], perFrame: [String: [String: Double]]) {
        let spans = tracer.popFinishedSpans()
        let byID = Dictionary(spans.map { ($0.spanID, $0) }, uniquingKeysWith: { first, _ in first })
        // A trace belongs to the frame its server span uploaded.
        var traces: [String: String] = [:]
        for span in spans where span.kind == .server {
            guard case .string(let path)? = span.attributes.get("url.path")?.toSpanAttribute() else { continue }
            let frame = String(path.split(separator: "/").last ?? "")
            if frames.contains(frame) { traces[span.traceID] = frame }
        }
        var durations: [String: [Double]] = [:]
        var (begins, ends): ([String: [Double]], [String: [Double]]) = ([:], [:])
        var byTrace: [String: [(name: String, start: UInt64, end: UInt64)]] = [:]
        for span in spans where traces[span.traceID] != nil {
            var name = span.operationName
            if name == "record", let parent = span.parentSpanID.flatMap({ byID[$0] }) {
                name = "record (\(parent.operationName.replacingOccurrences(of: "datum ", with: "")))"
            }
            let (start, end) = (span.startInstant.nanosecondsSinceEpoch, span.endInstant.nanosecondsSinceEpoch)
            durations[name, default: []].append(Double(end - start) / 1e6)
            byTrace[span.traceID, default: []].append((name, start, end))
        }
        // Each frame's trace starts with its upload (the camera's request).
        let starts = byTrace.mapValues { steps in steps.map(\.start).min() ?? 0 }
        for (trace, steps) in byTrace {
            let first = starts[trace] ?? 0
            for step in steps {
                begins[step.name, default: []].append(Double(step.start - first) / 1e6)
                ends[step.name, default: []].append(Double(step.end - first) / 1e6)
            }
            // The frame's whole trace less its own inference: the service's share of the frame's wait, without
            // inference's own spread from frame to frame (which the detector alone has too).
            if let inference = steps.first(where: { $0.name == "inference" }), let last = steps.map(\.end).max() {
                let outside = Double((last - first) - (inference.end - inference.start)) / 1e6
                durations[Self.outsideInference, default: []].append(outside)
                begins[Self.outsideInference, default: []].append(0)
                ends[Self.outsideInference, default: []].append(Double(last - first) / 1e6)
            }
        }
        let slow = byTrace.map { trace, steps -> SlowFrame in
            let first = starts[trace] ?? 0
            let last = steps.map(\.end).max() ?? 0
            let shown = steps.sorted { $0.start < $1.start }.filter { $0.end - $0.start >= 1_000_000 }.map {
                String(format: "%@ %.1f", $0.name, Double($0.end - $0.start) / 1e6)
            }
            return SlowFrame(frame: traces[trace] ?? "", milliseconds: Double(last - first) / 1e6, steps: shown)
        }.sorted { $0.milliseconds > $1.milliseconds }.prefix(slowest)
        var perFrame: [String: [String: Double]] = [:]
        for (trace, steps) in byTrace {
            guard let frame = traces[trace] else { continue }
            for step in steps.sorted(by: { $0.start < $1.start }) where perFrame[frame]?[step.name] == nil {
                perFrame[frame, default: [:]][step.name] = Double(step.end - step.start) / 1e6
            }
        }
        let known = Self.order.filter { durations[$0] != nil }
        // Steps named at run time (each commit's `barrier <repo>` and `head <repo>`) in the order a frame meets them.
        let others = durations.keys.filter { !Self.order.contains($0) }.sorted {
            (median(begins[$0] ?? []), $0) < (median(begins[$1] ?? []), $1)
        }
        let table = (known + others).map { name in
            let values = durations[name] ?? []
            return Step(
                step: name, spans: values.count, p50: median(values), p99: percentile(values, 99),
                startsAt: median(begins[name] ?? []), endsAt: median(ends[name] ?? []))
        }
        return (table, Array(slow), perFrame)
    }

    static func table(_ steps: [Step], slowest: [SlowFrame]) -> String {
        var lines = ["  step                       spans   p50 ms   p99 ms   starts at p50 ms   ends at p50 ms"]
        for step in steps {
            lines.append(
                "  " + step.step.padding(toLength: 26, withPad: " ", startingAt: 0)
                    + String(
                        format: "%6d %8.1f %8.1f %18.1f %16.1f", step.spans, step.p50, step.p99, step.startsAt,
                        step.endsAt))
        }
        for frame in slowest {
            lines.append(
                String(format: "  slow: %@ %.1f ms: ", frame.frame, frame.milliseconds)
                    + frame.steps.joined(separator: ", "))
        }
        return lines.joined(separator: "\n")
    }
}
