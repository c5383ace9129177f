import Logging
import ServiceLifecycle
import VigilStore
import VigilVision

/// Drops the decoded frames this process holds (`DecodedImageCache`, and the pooled blocks that frames were
/// decoded into: `PixelBuffer.Pool`) when any process records an erasure, so
/// that the pixels of an erased frame do not outlive its bytes in a long-running `vigil serve` or `vigil
/// engine`. The change feed says when to look, the erasure count whether one happened; a feed that ends (a
/// platform without one, a watch the kernel refused) leaves a look every few seconds. Erasures are rare and
/// the cache only saves a second decode, so all of it goes. When the count cannot be read (an outage), the
/// cache goes too. (`vigil worker` runs one pipeline, so no validator there leaves pixels for a detector: it
/// needs no watch.)
public struct ErasureWatch: Service {
    let log: any ErasureLog
    let changes: any ChangeFeed
    let cache: DecodedImageCache
    let pool: PixelBuffer.Pool
    let logger: Logger
    /// How often the count is read once the feed has ended.
    let pollInterval: Duration

    public init(
        log: any ErasureLog, changes: any ChangeFeed, cache: DecodedImageCache = .shared,
        pool: PixelBuffer.Pool = .shared, logger: Logger, pollInterval: Duration = .seconds(5)
    ) {
        self.log = log
        self.changes = changes
        self.cache = cache
        self.pool = pool
        self.logger = logger
        self.pollInterval = pollInterval
    }

    /// How long a look after a change waits before each of its reads, while they find nothing new.
    static let lookAgain: [Duration] = [.zero, .milliseconds(250), .seconds(1), .seconds(4)]

    public func run() async throws {
        let (looks, look) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let initial = try? await log.erasureCount()
        await cancelWhenGracefulShutdown {
            var seen = initial
            await withDiscardingTaskGroup { group in
                group.addTask { [changes, pollInterval] in
                    await changes.watch { change in
                        if change == .erasures || change == .unknown { look.yield() }
                    }
                    while !Task.isCancelled {
                        try? await Task.sleep(for: pollInterval)
                        look.yield()
                    }
                    look.finish()
                }
                // An erasure between the first count and the feed's start is found by this first look.
                look.yield()
                for await _ in looks {
                    // A folder reports a write as it starts, perhaps before its transaction commits (which waits
                    // for the disk, seconds on a loaded machine): a look that finds nothing new looks again a
                    // little later, then later still.
                    for delay in Self.lookAgain {
                        if delay > .zero { try? await Task.sleep(for: delay) }
                        let count = try? await log.erasureCount()
                        guard count == nil || count != seen else { continue }
                        seen = count
                        let held = cache.removeAll()
                        let blocks = pool.removeAll()
                        logger.info(
                            "an erasure was recorded: decoded frames held in memory dropped",
                            metadata: [
                                "frames": "\(held)", "pooled_bytes": "\(blocks)",
                                "erasures": "\(count.map(String.init) ?? "unknown")",
                            ])
                        break
                    }
                }
                group.cancelAll()
            }
        }
    }
}
