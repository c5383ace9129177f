import Foundation

/// A commit built by an open `CommitWriter` but not yet published (`CommitWriter.prepare`): its id, trees and
/// parent are fixed, so another job can read it, and name it in its provenance, before it lands.
public struct PreparedCommit: Sendable {
    public var commit: CommitInfo
    public let writer: CommitWriter
    /// The writer's own lease, released in the commit's transaction (nil: a shared lease, left afterwards).
    let releasingLease: String?
}

extension VersionedStore {
    /// Publishes prepared commits of several writers as one: one barrier makes every blob and node of all of
    /// them durable (or the transaction journals them, `makeBlobsDurable`), then one transaction moves every
    /// branch, each only if its head is still the commit's parent. Returns the commits, in order, as they are
    /// recorded; nil when a head had moved, and then nothing is published and every writer is still open, to be
    /// finished or abandoned as usual.
    public func publish(together prepared: [PreparedCommit]) async throws -> [CommitInfo]? {
        let barrier = Date()
        let durability = try await makeBlobsDurable()
        let head = Date()
        let finished = clock()
        let commits = prepared.map { prepared in
            var commit = prepared.commit
            commit.finished = finished
            return commit
        }
        let requests = zip(commits, prepared).map { commit, prepared in
            CommitAppendRequest(commit, expectedHead: commit.parent, releasingLease: prepared.releasingLease)
        }
        guard try await append(together: requests, durability) == .appended else { return nil }
        let ended = Date()
        // Readers hear of the commits first; closing the writers (an actor hop each) can wait for that.
        for commit in commits {
            remember(commit)
            self.commits.publish(commit)
        }
        for (commit, prepared) in zip(commits, prepared) {
            await prepared.writer.published(commit, barrier: barrier, head: head, ended: ended)
            logger.debug(
                "commit finished", metadata: ["repo": "\(commit.repo)", "commit": "\(commit.id)", "together": "true"])
        }
        await forgetJournalCovered(by: durability)
        return commits
    }
}
