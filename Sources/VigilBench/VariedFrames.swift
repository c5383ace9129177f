import Foundation
import VigilVision

/// Camera frames made from real photos the way cameras differ: a crop of each photo (80–100 % of each side,
/// anywhere in it), scaled to a common camera size (640×480, 1280×720, 1920×1080), encoded as JPEG at one of
/// several qualities or, one frame in eight, as PNG. No two frames are the same bytes, so neither the store's
/// dedup nor a decoded-image cache flatters a benchmark that uploads them. Seeded: the same frames each run.
struct VariedFrames {
    struct Frame: Sendable {
        var data: Data
        /// `jpg` or `png`.
        var fileExtension: String
        var width: Int
        var height: Int
    }

    static let sizes = [(640, 480), (1280, 720), (1920, 1080)]
    static let qualities = [60, 75, 85, 95]

    /// `count` frames from `photos` (encoded images), with `progress` told how many are made.
    static func make(
        from photos: [Data], count: Int, seed: UInt64 = 42, progress: (Int) -> Void = { _ in }
    ) throws -> [Frame] {
        let sources = try photos.map { try ImageDecoder.decode($0).image }
        var random = SplitMix64(seed: seed)
        var seen: Set<Data> = []
        var frames: [Frame] = []
        frames.reserveCapacity(count)
        for index in 0..<count {
            let source = sources[index % sources.count]
            let (width, height) = sizes[(index / sources.count) % sizes.count]
            let cropWidth = max(1, Int(Double(source.width) * random.fraction(from: 0.8)))
            let cropHeight = max(1, Int(Double(source.height) * random.fraction(from: 0.8)))
            let left = Int(random.next() % UInt64(source.width - cropWidth + 1))
            let top = Int(random.next() % UInt64(source.height - cropHeight + 1))
            var pixels = resize(source, crop: (left, top, cropWidth, cropHeight), to: (width, height))
            var frame: Frame
            repeat {
                let png = index % 8 == 7
                let data =
                    png
                    ? try ImageEncoder.png(pixels, width: width, height: height)
                    : try ImageEncoder.jpeg(
                        pixels, width: width, height: height,
                        quality: qualities[Int(random.next() % UInt64(qualities.count))])
                frame = Frame(data: data, fileExtension: png ? "png" : "jpg", width: width, height: height)
                // Two crops that came out the same: change one pixel and encode again.
                pixels[Int(random.next() % UInt64(pixels.count))] &+= 1
            } while !seen.insert(frame.data).inserted
            frames.append(frame)
            if (index + 1) % 50 == 0 || index + 1 == count { progress(index + 1) }
        }
        return frames
    }

    /// The crop of `image`, scaled bilinearly to `size`, as RGB bytes.
    static func resize(
        _ image: RGBImage, crop: (x: Int, y: Int, width: Int, height: Int), to size: (width: Int, height: Int)
    ) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: size.width * size.height * 3)
        let scaleX = Double(crop.width) / Double(size.width)
        let scaleY = Double(crop.height) / Double(size.height)
        image.pixels.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { output in
                for y in 0..<size.height {
                    let sourceY = max(0, (Double(y) + 0.5) * scaleY - 0.5)
                    let y0 = min(Int(sourceY), crop.height - 1)
                    let y1 = min(y0 + 1, crop.height - 1)
                    let fy = sourceY - Double(y0)
                    for x in 0..<size.width {
                        let sourceX = max(0, (Double(x) + 0.5) * scaleX - 0.5)
                        let x0 = min(Int(sourceX), crop.width - 1)
                        let x1 = min(x0 + 1, crop.width - 1)
                        let fx = sourceX - Double(x0)
                        let row0 = (crop.y + y0) * image.width
                        let row1 = (crop.y + y1) * image.width
                        for channel in 0..<3 {
                            let a = Double(input[(row0 + crop.x + x0) * 3 + channel])
                            let b = Double(input[(row0 + crop.x + x1) * 3 + channel])
                            let c = Double(input[(row1 + crop.x + x0) * 3 + channel])
                            let d = Double(input[(row1 + crop.x + x1) * 3 + channel])
                            let top = a + (b - a) * fx
                            let bottom = c + (d - c) * fx
                            output[(y * size.width + x) * 3 + channel] = UInt8(
                                max(0, min(255, (top + (bottom - top) * fy).rounded())))
                        }
                    }
                }
            }
        }
        return out
    }
}

/// A small seeded generator (SplitMix64): the same frames on every run and machine.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number from `lower` to 1.
    mutating func fraction(from lower: Double) -> Double {
        lower + (1 - lower) * Double(next() >> 11) / Double(1 << 53)
    }
}
