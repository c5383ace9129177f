import Foundation
import Logging
import ServiceLifecycle

/// Lets a long-running process's commits share writer leases (`SharedWriterLeases`) while it runs: releases
/// the newest lease once it has had no writer for a moment, and every lease nobody holds when the service
/// stops. Without it, each commit takes and releases a lease of its own.
public struct WriterLeaseKeeper: Service {
    let store: VersionedStore
    let logger: Logger
    /// How often an idle lease is looked for.
    public var interval: Duration = .milliseconds(500)

    public init(store: VersionedStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    public func run() async throws {
        let leases = store.sharedLeases
        leases.enable()
        // Only the wait is cut short by a graceful shutdown: a lease the sweep took out is always released.
        let interval = self.interval
        while (try? await cancelWhenGracefulShutdown({ try await Task.sleep(for: interval) })) != nil {
            await release(leases.sweep(now: store.clock()))
        }
        await release(leases.disable())
    }

    private func release(_ ids: [String]) async {
        // Cancelled (not stopped gracefully): nothing can be written; the leases expire like a killed process's.
        guard !Task.isCancelled else { return }
        for id in ids {
            do {
                try await store.releaseSharedLease(id)
            } catch {
                // Tried again at the next sweep; one left at the end only delays gc until it expires.
                logger.warning(
                    "a writer lease could not be released", metadata: ["lease": "\(id)", "error": "\(error)"])
            }
        }
    }
}
