import Foundation
import Logging
import ServiceLifecycle

/// `vigil serve`'s retention: each customer's retention applied at start and then every `interval` seconds.
/// A run that fails (an outage) only keeps data a little longer: the next one tries again. Several servers on
/// one database take turns (`MetadataStore.takeTurn`): each interval one of them walks history, not each.
public struct RetentionSchedule: Service {
    let runner: RetentionRunner
    let interval: Double
    let logger: Logger

    /// This process, as the turns record it.
    let holder = "\(ProcessInfo.processInfo.hostName) pid \(ProcessInfo.processInfo.processIdentifier)"
    static let task = "retention"

    public init(runner: RetentionRunner, interval: Double, logger: Logger) {
        self.runner = runner
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        // Only the sleep throws, cancelled at shutdown: then the service is done.
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    if try await runner.store.metadata.takeTurn(
                        Self.task, holder: holder, every: interval, now: Date())
                    {
                        logger.info("applying retention: this server's turn", metadata: ["holder": "\(holder)"])
                        _ = try await runner.run(requester: "vigil serve (retention)")
                    } else {
                        logger.debug("another server applied retention less than an interval ago")
                    }
                } catch is CancellationError {
                    return
                } catch {
                    logger.warning("cannot apply retention now; trying again later", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: .seconds(interval))
            }
        }
    }
}
