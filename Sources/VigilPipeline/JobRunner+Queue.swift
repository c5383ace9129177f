import Foundation
import VigilStore

/// A queued job's first end: the datums it hands to workers (`JobAssembly` makes its commit from their records).
extension JobRunner {
    /// The datums the job must run: those of its inputs that the output's index does not hold (counted as
    /// `skipped`), each once, in the order a job run in one process would run them.
    func datumsToRun(_ prepared: Prepared, job: inout JobInfo) async throws -> [Datum] {
        var datums: [Datum] = []
        var seen = Set<String>()
        var counts = job.counts
        let sideInputs = spec.input.sideInputs
        let store = environment.store
        func consider(_ datum: Datum) async throws {
            counts.total += 1
            if prepared.mode != .rebuild, try await DatumIndex.contains(datum.id, in: prepared.base, store: store) {
                counts.skipped += 1
            } else if seen.insert(datum.id).inserted {
                datums.append(prepared.traces.traced(datum))
            }
        }
        if prepared.mode == .delta {
            for inputs in prepared.delta?.added ?? [] {
                try await consider(Datum(inputs: inputs, specHash: job.specHash, sideInputs: sideInputs))
            }
        } else {
            try await prepared.planner.forEachDatum(consider)
        }
        job.counts = counts
        return datums
    }
}
