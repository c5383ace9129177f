import ArgumentParser
import Foundation
import Logging
import VigilBackends
import VigilPipeline
import VigilStore

func milliseconds(_ duration: Duration) -> Double {
    duration.inSeconds * 1000
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1
        ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

/// The nearest-rank percentile (`p` from 0 to 100).
func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
    return sorted[max(0, min(sorted.count - 1, rank - 1))]
}

/// A line of figures for people, on standard error (standard output carries the JSON).
func report(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Peak resident memory of this process so far, in MiB (Linux's VmHWM).
func peakMemoryMiB() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
    else { return 0 }
    return (Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0) / 1024
}

/// Runs `body` on a new data folder (refusing an existing one: a benchmark measures a fresh store), with the
/// store and the engine's environment the composition root builds for it.
func withBenchmarkHome<T>(
    _ home: String, stages: StageRegistry, _ body: (VersionedStore, EngineEnvironment) async throws -> T
) async throws -> T {
    let folder = URL(fileURLWithPath: home)
    guard !FileManager.default.fileExists(atPath: folder.path) else {
        throw ValidationError("--home \(home) exists; give a new folder")
    }
    let logger = Logger(label: "vigil-bench") { _ in SwiftLogNoOpLogHandler() }
    return try await Backends.with(home: folder, create: true, logger: logger) { backends in
        try await body(backends.store, try backends.engineEnvironment(stages: stages))
    }
}
