import ArgumentParser
import Foundation
import VigilVision

/// Decoding as a service decodes its frames (`ImageDecoder.decode` at the detector's scale, the image let go
/// once used): into new memory, which the process maps for each frame (`FrameMemory`) and faults in as the
/// decoder writes it, against into memory kept from the frames before (`PixelBuffer.Pool`). The two take turns
/// on each frame, so a slow spell of the machine hits both. Per camera size and format: the median over frames
/// of each frame's median time, and the ratio.
struct DecodeBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Time decoding varied frames into new memory against memory kept from earlier frames.")

    @Option(help: "The photos the frames are made from (`make bench-photos` puts them there).")
    var photos = ".deps/photos"
    @Option(help: "Frames per camera size and format (each from another photo, cropped differently).")
    var frames = 15
    @Option(help: "Decodes of each frame each way (its median is the frame's time).") var runs = 5
    @Option(help: "The detector's input size: JPEGs are decoded at the smallest scale at least this large.")
    var inputSize = 416

    /// One camera size and format: the medians each way, and kept over new.
    struct Figure: Encodable {
        var frames: String
        var milliseconds: [String: Double]
        var ratio: Double
        var steal: Double?
    }

    func run() async throws {
        guard frames > 0, runs > 0 else { throw ValidationError("--frames and --runs must be at least 1") }
        let sources = try VariedFrames.photos(in: photos)
        let pool = PixelBuffer.Pool(limitBytes: 24 << 20)
        var figures: [Figure] = []
        for (width, height) in VariedFrames.sizes {
            for png in [false, true] {
                let made = try VariedFrames.make(
                    from: sources, count: frames, sizes: [(width, height)], pngEvery: png ? 1 : 0, seed: UInt64(width))
                let steal = StealMeter()
                var (fresh, kept): ([Double], [Double]) = ([], [])
                for frame in made {
                    var times: (fresh: [Double], kept: [Double]) = ([], [])
                    for run in 0..<runs {
                        for intoKept in run % 2 == 0 ? [false, true] : [true, false] {
                            let time = try decode(frame.data, pool: intoKept ? pool : nil)
                            if intoKept { times.kept.append(time) } else { times.fresh.append(time) }
                        }
                    }
                    fresh.append(median(times.fresh))
                    kept.append(median(times.kept))
                }
                let figure = Figure(
                    frames: "\(width)×\(height) \(png ? "PNG" : "JPEG"), \(made.count) frames",
                    milliseconds: ["newMemory": median(fresh), "keptMemory": median(kept)],
                    ratio: median(kept) / median(fresh), steal: steal.percent)
                figures.append(figure)
                report(
                    String(
                        format: "%@: into new memory %.2f ms, into kept memory %.2f ms (×%.2f)%@", figure.frames,
                        median(fresh), median(kept), figure.ratio, stealNote(figure.steal)))
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(String(decoding: try encoder.encode(figures), as: UTF8.self))
    }

    /// Milliseconds to decode `data` and let the image go, as the detector does once it has its input.
    func decode(_ data: Data, pool: PixelBuffer.Pool?) throws -> Double {
        let start = ContinuousClock.now
        do {
            let (image, _) = try ImageDecoder.decode(data, atLeast: (inputSize, inputSize), pool: pool)
            guard image.pixels.count == image.width * image.height * 3 else {
                throw ValidationError("a benchmark frame decoded to \(image.pixels.count) bytes")
            }
        }
        return milliseconds(ContinuousClock.now - start)
    }
}
