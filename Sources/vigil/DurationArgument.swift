import ArgumentParser
import Foundation

/// A span of time as people type it on a command line: `90d`, `12h`, `30m`, `45s`, or plain seconds.
struct DurationArgument: ExpressibleByArgument, Sendable {
    var seconds: Double

    init(seconds: Double) {
        self.seconds = seconds
    }

    static let units: [Character: Double] = ["s": 1, "m": 60, "h": 3_600, "d": 86_400, "w": 604_800]

    init?(argument: String) {
        let text = argument.trimmingCharacters(in: .whitespaces).lowercased()
        let unit = text.last.flatMap { Self.units[$0] }
        let number = unit == nil ? Substring(text) : text.dropLast()
        guard let value = Double(number), value.isFinite, value > 0 else { return nil }
        seconds = value * (unit ?? 1)
        guard seconds.isFinite, seconds <= 100 * 365 * 86_400 else { return nil }
    }

    static var defaultCompletionKind: CompletionKind { .default }

    var defaultValueDescription: String {
        let units: [(String, Double)] = [("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60)]
        for (unit, size) in units where seconds >= size && seconds.truncatingRemainder(dividingBy: size) == 0 {
            return "\(Int(seconds / size))\(unit)"
        }
        return "\(seconds)s"
    }
}
