import Foundation

/// What `gc` did.
public struct CollectionReport: Sendable, Codable {
    public var reachable = 0
    public var scanned = 0
    public var deleted = 0
    public var deletedBytes: Int64 = 0
    /// Unreachable but written after the cut-off: possibly a writer's, kept for a later run.
    public var keptRecent = 0
    public var abandonedWrites = 0
    public var cutoff = Date(timeIntervalSince1970: 0)
}

extension VersionedStore {
    /// Deletes blobs no commit reaches. Safe beside writers, without locks:
    /// - a writer holds a lease from before its first blob write until its commit is published, and gc keeps
    ///   every blob written after the oldest live lease started (less `grace`, for clock skew);
    /// - a writer that reuses an existing blob freshens it (see `BlobStore`), and gc deletes only blobs not
    ///   freshened since the cut-off, checked at the moment of deletion.
    /// A lease whose heartbeat is older than `leaseTimeout` belongs to a dead writer and is ignored.
    ///
    /// `clockSlack` is always kept below the cut-off, whatever `grace` is: blob timestamps come from a coarser
    /// clock than the leases' (ext4 stamps files with the kernel's tick-granular clock, S3's Last-Modified has
    /// whole seconds), so a blob written just after its writer's lease began can look older than the lease.
    /// A gc beside running writers deleted such blobs before this slack existed. Pass 0 only when no writer
    /// can be running.
    public func collectGarbage(
        grace: TimeInterval = 300, leaseTimeout: TimeInterval = 600, clockSlack: TimeInterval = 2,
        dryRun: Bool = false
    ) async throws -> CollectionReport {
        let start = clock()
        var report = CollectionReport()
        // Leases before commits: a writer that finishes in between is then seen by its commit.
        let live = try await metadata.leases().filter { start.timeIntervalSince($0.heartbeat) < leaseTimeout }
        let oldestWriter = live.map(\.started).min() ?? start
        report.cutoff = min(start, oldestWriter).addingTimeInterval(-grace - clockSlack)

        // Nodes and files apart: a file whose bytes happen to equal a node's must not stop the walk below it.
        var nodes: Set<BlobHash> = [TreeStore.emptyHash]
        var files: Set<BlobHash> = []
        for commit in try await metadata.allCommits(in: nil) {
            for root in [commit.tree] + (commit.meta.map { [$0] } ?? []) {
                try await trees.walkHashes(
                    from: root.hash,
                    shouldDescend: { nodes.insert($0).inserted },
                    file: { files.insert($0.hash) })
            }
        }
        let reachable = nodes.union(files)
        report.reachable = reachable.count

        for try await blob in blobs.list() {
            report.scanned += 1
            if reachable.contains(blob.hash) { continue }
            if blob.modified >= report.cutoff {
                report.keptRecent += 1
                continue
            }
            if dryRun {
                report.deleted += 1
                report.deletedBytes += blob.size
            } else if try await blobs.delete(blob.hash, ifNotModifiedSince: report.cutoff) {
                report.deleted += 1
                report.deletedBytes += blob.size
            }
        }
        if !dryRun { report.abandonedWrites = try await blobs.removeAbandonedWrites(olderThan: report.cutoff) }
        logger.info(
            "gc finished",
            metadata: [
                "reachable": "\(report.reachable)", "deleted": "\(report.deleted)", "bytes": "\(report.deletedBytes)",
            ])
        return report
    }
}
