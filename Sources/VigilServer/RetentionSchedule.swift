import Foundation
import Logging
import ServiceLifecycle

/// `vigil serve`'s retention: each customer's retention applied at start and then every `interval` seconds.
/// A run that fails (an outage) only keeps data a little longer: the next one tries again.
public struct RetentionSchedule: Service {
    let runner: RetentionRunner
    let interval: Double
    let logger: Logger

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
                    _ = try await runner.run(requester: "vigil serve (retention)")
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
