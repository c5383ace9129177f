import Logging
import Metrics
import ServiceLifecycle
import VigilVision

/// Gives the free space glibc keeps inside the heap back to the system every `interval`, so that a service's
/// resident memory follows what it holds instead of the most it ever held (`FrameMemory`), after letting go
/// of the decoded frames' kept blocks that no frame used since the pass before (`PixelBuffer.Pool`). A pass
/// is timed (`vigil_heap_trim_seconds`); it stops with the service. A pass walks every arena under its lock
/// and makes a system call per run of free pages, so it runs on a low-priority thread of its own, not on one of
/// the few threads that async code shares.
public struct HeapTrim: Service {
    public let interval: Duration
    let pool: PixelBuffer.Pool
    let logger: Logger
    private let thread = WorkerThread(name: "vigil-heap-trim", niceness: 10)
    private static let passes = Timer(label: "vigil_heap_trim_seconds")

    public init(interval: Duration = .seconds(30), pool: PixelBuffer.Pool = .shared, logger: Logger) {
        self.interval = interval
        self.pool = pool
        self.logger = logger
    }

    public func run() async throws {
        try await cancelWhenGracefulShutdown {
            while (try? await Task.sleep(for: interval)) != nil {
                let (idle, released, took) = try await thread.run { [pool] in
                    let start = ContinuousClock.now
                    let idle = pool.trim()
                    return (idle, FrameMemory.trim(), ContinuousClock.now - start)
                }
                Self.passes.record(duration: took)
                logger.trace(
                    "heap trimmed",
                    metadata: ["released": "\(released)", "idle_blocks_bytes": "\(idle)", "took": "\(took)"])
            }
        }
    }
}
