/// Commits by id. A commit never changes once written, so a cached one is never stale (a deleted repo's
/// commits are dropped with it); pipelines read the same few commits many times a job, and each read from the
/// database costs tens of microseconds.
final class CommitCache: Sendable {
    private let commits: GenerationalCache<String, CommitInfo>

    init(capacity: Int = 4_096) {
        commits = GenerationalCache(capacity: capacity)
    }

    func commit(_ id: String) -> CommitInfo? { commits.value(for: id) }

    func insert(_ commit: CommitInfo) { commits.insert(commit, for: commit.id) }

    func removeAll(in repo: String) { commits.removeAll { $0.repo == repo } }
}
