import Synchronization

/// Commits by id. A commit never changes once written, so a cached one is never stale (a deleted repo's
/// commits are dropped with it); pipelines read the same few commits many times a job, and each read from the
/// database costs tens of microseconds. Two generations approximate LRU, as in `NodeCache`.
final class CommitCache: Sendable {
    private struct Generations {
        var young: [String: CommitInfo] = [:]
        var old: [String: CommitInfo] = [:]
    }

    private let generations = Mutex(Generations())
    private let capacity: Int

    init(capacity: Int = 4_096) {
        self.capacity = capacity
    }

    func commit(_ id: String) -> CommitInfo? {
        generations.withLock { state in
            if let commit = state.young[id] { return commit }
            guard let commit = state.old.removeValue(forKey: id) else { return nil }
            Self.insert(commit, into: &state, capacity: capacity)
            return commit
        }
    }

    func insert(_ commit: CommitInfo) {
        generations.withLock { Self.insert(commit, into: &$0, capacity: capacity) }
    }

    func removeAll(in repo: String) {
        generations.withLock { state in
            state.young = state.young.filter { $0.value.repo != repo }
            state.old = state.old.filter { $0.value.repo != repo }
        }
    }

    private static func insert(_ commit: CommitInfo, into state: inout Generations, capacity: Int) {
        if state.young.count >= capacity {
            state.old = state.young
            state.young = [:]
        }
        state.young[commit.id] = commit
    }
}
