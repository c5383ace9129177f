import Foundation
import VigilBackends
import VigilPipeline
import VigilStages
import VigilStore

extension StoreOptions {
    /// The pipeline engine's environment over `backends`, with Vigil's stages.
    func openEngine(_ backends: Backends, progress: Bool = false) async throws -> EngineEnvironment {
        var environment = try backends.engineEnvironment(stages: .vigil)
        if progress, Terminal.standardErrorIsTerminal {
            environment.progress = { job in
                let counts = job.counts
                Terminal.progressLine(
                    "\(job.pipeline) job \(job.id.prefix(8)): \(counts.processed) processed, \(counts.skipped) skipped, "
                        + "\(counts.failed) failed, \(counts.removed) removed")
            }
        }
        return environment
    }
}

extension EngineEnvironment {
    /// `--no-workers`: this process plans jobs and assembles their commits, and workers elsewhere
    /// (`vigil worker`) run the datums; only with a shared database, where datums are queued.
    mutating func runWithoutWorkers(_ noWorkers: Bool) throws {
        guard noWorkers else { return }
        guard queue != nil else {
            throw VigilError(
                .badConfiguration,
                "--no-workers leaves datums to `vigil worker` processes, which need a shared database: give "
                    + "--database postgres://… (see docs/DEPLOY.md), or leave the flag out to run every datum here",
                value: "--no-workers")
        }
        runsWorkers = false
    }
}

extension JobInfo {
    /// `12 processed, 3 skipped, …`, leaving out zeros.
    var countsSummary: String {
        let parts = [
            ("processed", counts.processed), ("skipped", counts.skipped), ("recovered", counts.recovered),
            ("failed", counts.failed), ("removed", counts.removed),
        ].filter { $0.1 > 0 }.map { "\($0.1) \($0.0)" }
        return parts.isEmpty ? "nothing to do" : parts.joined(separator: ", ")
    }

    var duration: String {
        guard let finished else { return "-" }
        let seconds = finished.timeIntervalSince(started)
        return seconds < 1 ? String(format: "%.0f ms", seconds * 1000) : String(format: "%.1f s", seconds)
    }
}
