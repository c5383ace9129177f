import Foundation

/// A file's trace as a commit recorded it, and when that commit was published (a reader's wait starts then).
public struct CommittedTrace: Sendable, Hashable, Codable {
    public var headers: TraceHeaders
    public var committed: Date

    public init(headers: TraceHeaders, committed: Date) {
        self.headers = headers
        self.committed = committed
    }
}

extension VersionedStore {
    /// The traces of the files written by the commits from `head` back to (not including) `stop`, at most
    /// `limit` commits, by path; a later commit's trace wins. Empty when tracing is off. Best effort: a commit
    /// that cannot be read ends the walk, never the caller.
    public func traces(from head: CommitInfo, back stop: String?, limit: Int = 64) async -> [String: CommittedTrace] {
        guard TraceHeaders.isTracing else { return [:] }
        var found: [String: CommittedTrace] = [:]
        var commit: CommitInfo? = head
        var walked = 0
        while let next = commit, next.id != stop, walked < limit {
            for (path, headers) in next.traces ?? [:] where found[path] == nil {
                found[path] = CommittedTrace(headers: headers, committed: next.finished)
            }
            walked += 1
            guard let parent = next.parent else { break }
            commit = try? await self.commit(id: parent)
        }
        return found
    }
}
