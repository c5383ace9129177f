import Foundation
import VigilStore

/// A queued job's two ends: the datums it hands to workers, and its output commit made from their records.
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
                datums.append(datum)
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

    /// Makes the output commit of a job whose queued datums are all done, with `writer` (opened before the
    /// job's datums were queued, so gc kept what workers stored meanwhile): removes what gone datums made,
    /// links each successful datum's recorded outputs and index entry, and publishes (once: see `publish`).
    /// `failed` datums were recorded as failed by their workers. A job taken over from another coordinator
    /// (`verifyingOutputs`) first checks that what its workers stored is still there.
    func assemble(
        _ job: JobInfo, prepared: Prepared, writer: CommitWriter, failed: Int, verifyingOutputs: Bool
    ) async throws -> JobInfo {
        let records = try await environment.jobs.successfulDatums(job: job.id)
        var runner = self
        runner.stageIdentity = records.values.lazy.compactMap(\.identity).first
        var job = job
        job.counts.processed = 0
        job.counts.failed = failed
        var execution = Execution(runner: runner, job: job, writer: writer, base: prepared.base, resumed: [:])
        do {
            let missing = verifyingOutputs ? try await Self.missingOutputs(Array(records.values), in: store) : []
            try await execution.removeStale(mode: prepared.mode, delta: prepared.delta, planner: prepared.planner)
            try await execution.stageRecorded(records.values.sorted { $0.datum < $1.datum }, missing: missing)
        } catch {
            await writer.abandon()
            throw error
        }
        return try await runner.publish(&execution)
    }

    /// The datums (by id) whose stored outputs or index entry are gone, looked up a few at a time.
    static func missingOutputs(_ records: [DatumRecord], in store: VersionedStore) async throws -> Set<String> {
        let missing = try await records.concurrentMap(width: 16) { record -> String? in
            let hashes = record.outputs.map(\.value.hash) + (record.index.map { [$0.hash] } ?? [])
            for hash in hashes where try await !store.blobs.contains(hash) { return record.datum }
            return nil
        }
        return Set(missing.compactMap { $0 })
    }
}

extension JobRunner.Execution {
    /// Stages the outputs and index entries of datums workers recorded as successful; a datum whose outputs are
    /// gone (`missing`: a gc) or do not fit the commit is recorded as failed instead, with the reason.
    mutating func stageRecorded(_ records: [DatumRecord], missing: Set<String>) async throws {
        let sideInputs = runner.pipeline.spec.input.sideInputs
        for var record in records {
            let datum = Datum(inputs: record.inputs, specHash: job.specHash, sideInputs: sideInputs)
            var failure: String?
            if datum.id != record.datum {
                failure = "its record does not match its inputs (datum \(datum.id))"
            } else if missing.contains(record.datum) {
                failure =
                    "its outputs were removed (by gc?) before the job could commit them; the next job runs it again"
            } else {
                do {
                    try await stage(datum, record)
                } catch let error as VigilError where !Outage.isOutage(error) {
                    failure = "its outputs do not fit the output commit: \(error.description)"
                }
            }
            guard let failure else {
                job.counts.processed += 1
                continue
            }
            record.state = .failed
            record.error = failure
            job.counts.failed += 1
            pending.append(record)
        }
    }
}
