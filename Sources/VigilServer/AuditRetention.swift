import Foundation
import Logging
import ServiceLifecycle
import VigilAccess

/// Keeps the audit log to a retention period: at start and then every `interval` seconds, deletes entries
/// older than `retention` seconds, in batches (no long lock on a busy log). With several servers on one
/// database each prunes; the deletes are idempotent.
public struct AuditRetention: Service {
    let access: any AccessStore
    let retention: Double
    let interval: Double
    let logger: Logger
    static let batch = 10_000

    public init(access: any AccessStore, retention: Double, interval: Double = 3_600, logger: Logger) {
        self.access = access
        self.retention = retention
        self.interval = interval
        self.logger = logger
    }

    /// Prunes what is past retention at `now`; how many entries went.
    @discardableResult
    public func prune(now: Date = Date()) async throws -> Int {
        let cutoff = now.addingTimeInterval(-retention)
        var total = 0
        while true {
            let deleted = try await access.pruneAudit(before: cutoff, limit: Self.batch)
            total += deleted
            if deleted < Self.batch { break }
        }
        if total > 0 { logger.info("audit log pruned", metadata: ["entries": "\(total)", "before": "\(cutoff)"]) }
        return total
    }

    public func run() async throws {
        // Only the sleep throws, cancelled at shutdown: then the service is done.
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await prune()
                } catch {
                    // The log is only kept longer; the next round tries again.
                    logger.warning("cannot prune the audit log", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: .seconds(interval))
            }
        }
    }
}
