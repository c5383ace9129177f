import Foundation

/// The share of the CPU time this machine wanted that its hypervisor gave to other guests ("steal", from
/// Linux's /proc/stat) over a window: steal over busy time plus steal, so an idle spell does not dilute it. On
/// a shared virtual machine a slow spell shows up here: a figure taken while steal was high says more about
/// the neighbours than about the code.
struct StealMeter {
    private let start: (steal: Double, wanted: Double)?

    init() {
        start = Self.sample()
    }

    /// Percent of the wanted CPU time stolen since `init`; nil where /proc/stat is not there (not Linux).
    var percent: Double? {
        guard let start, let now = Self.sample(), now.wanted > start.wanted else { return nil }
        return 100 * (now.steal - start.steal) / (now.wanted - start.wanted)
    }

    /// The `cpu` line's steal, and its time neither idle nor waiting for I/O (steal included), in clock ticks.
    private static func sample() -> (steal: Double, wanted: Double)? {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") })
        else { return nil }
        let fields = line.split(separator: " ").dropFirst().prefix(8).compactMap { Double($0) }
        guard fields.count == 8 else { return nil }
        return (fields[7], fields.reduce(0, +) - fields[3] - fields[4])
    }
}

/// "; steal 3.1 %" for a report line, or nothing where steal cannot be read.
func stealNote(_ percent: Double?) -> String {
    percent.map { String(format: "; steal %.1f %%", $0) } ?? ""
}
