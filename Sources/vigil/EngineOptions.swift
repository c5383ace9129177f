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
