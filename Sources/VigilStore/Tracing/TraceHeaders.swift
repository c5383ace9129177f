import Foundation
import Instrumentation
import Tracing

/// A span's context as it travels between tasks, processes and commits: the propagation headers of whatever
/// tracer is bootstrapped (W3C `traceparent` and `tracestate` for OpenTelemetry). A frame's trace goes from the
/// upload through every commit, job, datum and delivery by these headers, kept beside the paths they belong to
/// (`CommitInfo.traces`, `Datum.trace`, `DatumRecord.trace`, an alert's `trace`).
///
/// With no tracer bootstrapped (the default) nothing is captured or stored: tracing is off and free.
public struct TraceHeaders: Sendable, Hashable, Codable {
    public var fields: [String: String]

    public init(_ fields: [String: String]) {
        self.fields = fields
    }

    public init(from decoder: any Decoder) throws {
        fields = try decoder.singleValueContainer().decode([String: String].self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(fields)
    }

    /// Whether a tracer is bootstrapped: when not, spans are no-ops and nothing is captured.
    public static var isTracing: Bool { !(InstrumentationSystem.tracer is NoOpTracer) }

    /// The headers of `context` (by default the current task's span), or nil when tracing is off or there is
    /// no span to continue.
    public static func capture(_ context: ServiceContext? = .current) -> TraceHeaders? {
        guard let context, isTracing else { return nil }
        var fields: [String: String] = [:]
        InstrumentationSystem.instrument.inject(context, into: &fields, using: DictionaryInjector())
        return fields.isEmpty ? nil : TraceHeaders(fields)
    }

    /// The context these headers continue: a span started in it is a child of the span they were captured from.
    public var context: ServiceContext {
        var context = ServiceContext.topLevel
        InstrumentationSystem.instrument.extract(fields, into: &context, using: DictionaryExtractor())
        return context
    }

    // A database column holds headers as JSON text. Text that does not read back is no trace, never an error:
    // a trace is worth less than the commit or alert it rides on and never makes one unreadable.

    /// The headers as a database column's text.
    public var columnText: String? { Self.json(self) }

    /// Headers from a database column's text; nil for none, or for text that is not headers.
    public init?(columnText: String?) {
        guard let decoded = Self.decoded(TraceHeaders.self, from: columnText) else { return nil }
        self = decoded
    }

    /// Headers by path as a database column's text; nil when there are none.
    public static func columnText(of map: [String: TraceHeaders]?) -> String? {
        guard let map, !map.isEmpty else { return nil }
        return json(map)
    }

    /// Headers by path from a database column's text; nil when there are none or the text is not such a map.
    public static func map(columnText: String?) -> [String: TraceHeaders]? {
        guard let map = decoded([String: TraceHeaders].self, from: columnText), !map.isEmpty else { return nil }
        return map
    }

    private static func json(_ value: some Encodable) -> String? {
        guard let data = try? JSONEncoder().encode(value) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    private static func decoded<T: Decodable>(_ type: T.Type, from text: String?) -> T? {
        guard let text, !text.isEmpty else { return nil }
        return try? JSONDecoder().decode(type, from: Data(text.utf8))
    }
}

private struct DictionaryInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) {
        carrier[key] = value
    }
}

private struct DictionaryExtractor: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
}

/// A wall-clock time as a span's start or end: spans that begin at a recorded moment (a commit published
/// earlier, by another process) rather than now.
public struct WallClockInstant: TracerInstant {
    public var nanosecondsSinceEpoch: UInt64

    public init(_ date: Date) {
        nanosecondsSinceEpoch = UInt64(max(0, date.timeIntervalSince1970 * 1e9))
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.nanosecondsSinceEpoch < rhs.nanosecondsSinceEpoch }
}
