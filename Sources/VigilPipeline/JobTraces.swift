import Foundation
import VigilStore

/// The traces of the files a job's datums read, gathered from the input commits since the job before it
/// (`CommitInfo.traces`): each datum continues the trace of the frame its first traced input came from. Empty,
/// and never read, when tracing is off.
struct JobTraces: Sendable {
    private var byRepo: [String: [String: CommittedTrace]] = [:]

    /// Walks each input from its `current` commit back to the one the previous job read (`previous`, by input
    /// name): a job normally follows a few commits behind.
    static func gather(
        current: [String: CommitInfo], previous: [String: CommitInfo], store: VersionedStore
    ) async -> JobTraces {
        var traces = JobTraces()
        guard TraceHeaders.isTracing else { return traces }
        for (name, head) in current {
            let found = await store.traces(from: head, back: previous[name]?.id)
            traces.byRepo[head.repo, default: [:]].merge(found) { kept, _ in kept }
        }
        return traces
    }

    /// `datum` with the trace of its first input that has one.
    func traced(_ datum: Datum) -> Datum {
        guard !byRepo.isEmpty else { return datum }
        var datum = datum
        for input in datum.inputs {
            if let trace = byRepo[input.repo]?[input.path] {
                datum.trace = trace
                break
            }
        }
        return datum
    }
}
