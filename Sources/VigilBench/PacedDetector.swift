import Foundation
import VigilVision

/// The detector alone as the service meets frames: each begun at its time, the cores idle between (back to back
/// they never are), on a thread of its own.
struct PacedDetector {
    let detector: Detector
    let thread: WorkerThread

    /// Made, and warmed with one inference of `frame`.
    static func make(threads: Int, spinning: Bool, warmingWith frame: VariedFrames.Frame) async throws -> Self {
        let detector = try DetectorAlone.detector(threads: threads, spinning: spinning)
        let thread = WorkerThread(name: "detector-alone")
        _ = try await thread.run { try detector.detect(frame.data) }
        return PacedDetector(detector: detector, thread: thread)
    }

    /// One frame's time, ms.
    struct Time {
        /// Decode + inference.
        var total: Double
        var inference: Double
    }

    /// The times of each of `frames`: the k-th begun k / `rate` seconds after the first.
    func run(_ frames: [VariedFrames.Frame], rate: Double) async throws -> [Time] {
        let start = ContinuousClock.now + .milliseconds(200)
        var times: [Time] = []
        for (index, frame) in frames.enumerated() {
            try await Task.sleep(until: start + .seconds(Double(index) / rate), clock: .continuous)
            let result = try await thread.run { [detector] in try detector.detect(frame.data) }
            times.append(
                Time(
                    total: result.inferenceMilliseconds + result.decodeMilliseconds,
                    inference: result.inferenceMilliseconds))
        }
        return times
    }
}
