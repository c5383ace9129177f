import ArgumentParser
import CVigilImage
import Foundation

/// PNG decoding on varied camera frames, in one process: libpng alone (the baseline) against the decoder Vigil
/// uses (`vigil_png_decode`: libdeflate and its own unfiltering for the common camera PNG, libpng for the
/// rest), the two taking turns on each frame so that a slow spell of the machine hits both. Per camera size:
/// the median over frames of each frame's median time, and the ratio.
struct PNGBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "png", abstract: "Time PNG decoding of varied frames: libpng alone against Vigil's decoder.")

    @Option(help: "The photos the frames are made from (`make bench-photos` puts them there).")
    var photos = ".deps/photos"
    @Option(help: "Frames per camera size (each from another photo, cropped differently).") var frames = 15
    @Option(help: "Decodes of each frame by each decoder (its median is the frame's time).") var runs = 5

    struct Figure: Encodable {
        var size: String
        var frames: Int
        var libpngMilliseconds: Double
        var vigilMilliseconds: Double
        var speedup: Double
        var steal: Double?
    }

    func run() async throws {
        guard frames > 0, runs > 0 else { throw ValidationError("--frames and --runs must be at least 1") }
        let sources = try VariedFrames.photos(in: photos)
        var figures: [Figure] = []
        for (width, height) in VariedFrames.sizes {
            let made = try VariedFrames.make(
                from: sources, count: frames, sizes: [(width, height)], pngEvery: 1, seed: UInt64(width))
            let steal = StealMeter()
            var libpngTimes: [Double] = []
            var vigilTimes: [Double] = []
            for frame in made {
                var libpng: [Double] = []
                var vigil: [Double] = []
                for run in 0..<runs {
                    // Each goes first in every other run: the second finds the file's bytes in cache.
                    for libpngOnly in run % 2 == 0 ? [true, false] : [false, true] {
                        let time = try Self.decode(frame.data, libpngOnly: libpngOnly)
                        if libpngOnly { libpng.append(time) } else { vigil.append(time) }
                    }
                }
                libpngTimes.append(median(libpng))
                vigilTimes.append(median(vigil))
            }
            let figure = Figure(
                size: "\(width)×\(height)", frames: made.count, libpngMilliseconds: median(libpngTimes),
                vigilMilliseconds: median(vigilTimes), speedup: median(libpngTimes) / median(vigilTimes),
                steal: steal.percent)
            figures.append(figure)
            report(
                String(
                    format: "%@ PNG, %d frames: libpng %.2f ms, Vigil %.2f ms (×%.2f)%@", figure.size, figure.frames,
                    figure.libpngMilliseconds, figure.vigilMilliseconds, figure.speedup, stealNote(figure.steal)))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        print(String(decoding: try encoder.encode(figures), as: UTF8.self))
    }

    /// Milliseconds to decode `data` to RGB with libpng alone or with Vigil's decoder.
    static func decode(_ data: Data, libpngOnly: Bool) throws -> Double {
        var info = vigil_image_info()
        let header = data.withUnsafeBytes { raw in
            vigil_png_header(raw.bindMemory(to: UInt8.self).baseAddress!, raw.count, &info)
        }
        guard header == 0 else { throw ValidationError("a benchmark frame has an unreadable PNG header") }
        var pixels = [UInt8](repeating: 0, count: Int(info.width) * Int(info.height) * 3)
        let start = ContinuousClock.now
        let status = data.withUnsafeBytes { raw in
            pixels.withUnsafeMutableBufferPointer { out in
                let bytes = raw.bindMemory(to: UInt8.self).baseAddress!
                return libpngOnly
                    ? vigil_png_decode_libpng(bytes, raw.count, out.baseAddress!, out.count, &info)
                    : vigil_png_decode(bytes, raw.count, out.baseAddress!, out.count, &info)
            }
        }
        let elapsed = milliseconds(ContinuousClock.now - start)
        guard status == 0 else { throw ValidationError("a benchmark frame did not decode") }
        return elapsed
    }
}
