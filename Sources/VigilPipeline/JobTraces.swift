import Foundation
import VigilStore

/// The traces of the files a job's datums read, gathered from the input commits since the job before it
/// (`CommitInfo.traces`): each datum continues the trace of the frame its first traced input came from. Empty,
/// and never read, when tracing is off.
struct JobTraces: Sendable {
    private var byRepo: [String: [String: DatumTrace]] = [:]

    /// How far back one input's history is walked for traces: a job normally follows a few commits behind.
    static let maxCommits = 64

    /// Walks each input from its `current` commit back to the one the previous job read (`previous`, by input
    /// name). Best effort: a trace that cannot be read is a trace missed, never a job failed.
    static func gather(
        current: [String: CommitInfo], previous: [String: CommitInfo], store: VersionedStore
    ) async -> JobTraces {
        var traces = JobTraces()
        guard TraceHeaders.isTracing else { return traces }
        for (name, head) in current {
            var found = traces.byRepo[head.repo] ?? [:]
            var commit: CommitInfo? = head
            var walked = 0
            while let next = commit, next.id != previous[name]?.id, walked < maxCommits {
                for (path, headers) in next.traces ?? [:] where found[path] == nil {
                    found[path] = DatumTrace(headers: headers, committed: next.finished)
                }
                walked += 1
                guard let parent = next.parent else { break }
                commit = try? await store.commit(id: parent)
            }
            traces.byRepo[head.repo] = found
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
