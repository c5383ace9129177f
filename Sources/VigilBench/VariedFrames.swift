import ArgumentParser
import Foundation
import VigilVision

/// Camera frames made from real photos the way cameras differ: a crop of each photo (80–100 % of each side,
/// anywhere in it), scaled to a common camera size (640×480, 1280×720, 1920×1080), encoded as JPEG at one of
/// several qualities or, one frame in eight, as PNG; a greyscale photo stays greyscale. No two frames are the
/// same bytes, so neither the store's dedup nor a decoded-image cache flatters a benchmark that uploads them.
/// Seeded: the same frames each run.
struct VariedFrames {
    struct Frame: Sendable {
        var data: Data
        /// `jpg` or `png`.
        var fileExtension: String
        var width: Int
        var height: Int
        /// The photo it was made from.
        var source: String
    }

    /// The photos `scripts/setup-photos.sh` puts in `.deps/photos` (`make bench-photos`): every JPEG and PNG in
    /// `folder`, by name.
    static func photos(in folder: String) throws -> [(name: String, data: Data)] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
            .filter { $0.hasSuffix(".jpg") || $0.hasSuffix(".png") }.sorted()
        guard names.count >= 2 else {
            throw ValidationError(
                "\(names.count) photos in \(folder); run `make bench-photos` (or give --photos a folder of JPEGs and PNGs)"
            )
        }
        return try names.map { ($0, try Data(contentsOf: URL(fileURLWithPath: folder).appendingPathComponent($0))) }
    }

    static let sizes = [(640, 480), (1280, 720), (1920, 1080)]
    static let qualities = [60, 75, 85, 95]

    /// `count` frames from `photos` (encoded images), at `sizes` in turn, one in `pngEvery` a PNG (0: none), with
    /// `progress` told how many are made.
    static func make(
        from photos: [(name: String, data: Data)], count: Int, sizes: [(Int, Int)] = sizes,
        qualities: [Int] = qualities, pngEvery: Int = 8, seed: UInt64 = 42, progress: (Int) -> Void = { _ in }
    ) throws -> [Frame] {
        let sources = try photos.map { try ImageDecoder.decode($0.data) }
        var random = SplitMix64(seed: seed)
        var seen: Set<Data> = []
        var frames: [Frame] = []
        frames.reserveCapacity(count)
        for index in 0..<count {
            let (source, header) = sources[index % sources.count]
            let components = header.components == 1 ? 1 : 3
            let (width, height) = sizes[(index / sources.count) % sizes.count]
            let cropWidth = max(1, Int(Double(source.width) * random.fraction(from: 0.8)))
            let cropHeight = max(1, Int(Double(source.height) * random.fraction(from: 0.8)))
            let left = Int(random.next() % UInt64(source.width - cropWidth + 1))
            let top = Int(random.next() % UInt64(source.height - cropHeight + 1))
            var pixels = resize(source, crop: (left, top, cropWidth, cropHeight), to: (width, height))
            if components == 1 { pixels = stride(from: 0, to: pixels.count, by: 3).map { pixels[$0] } }
            var frame: Frame
            repeat {
                let png = pngEvery > 0 && index % pngEvery == pngEvery - 1
                let data =
                    png
                    ? try ImageEncoder.png(pixels, width: width, height: height, components: components)
                    : try ImageEncoder.jpeg(
                        pixels, width: width, height: height, components: components,
                        quality: qualities[Int(random.next() % UInt64(qualities.count))])
                frame = Frame(
                    data: data, fileExtension: png ? "png" : "jpg", width: width, height: height,
                    source: photos[index % photos.count].name)
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

extension VariedFrames.Frame {
    /// The frame's bytes made unique by `tag` without changing a pixel: a JPEG comment segment after the start
    /// marker, or a PNG text chunk after the header chunk. A soak reuses a pool of frames this way and still
    /// uploads new bytes every time.
    func tagged(_ tag: String) -> Data {
        let text = Data("vigil-soak \(tag)".utf8)
        var data = data
        if fileExtension == "png" {
            let chunk = Data("tEXt".utf8) + Data("Comment".utf8) + Data([0]) + text
            var length = UInt32(chunk.count - 4).bigEndian
            var crc = CRC32.checksum(chunk).bigEndian
            // 8 bytes of signature, then IHDR: length (4), type (4), 13 bytes, CRC (4).
            data.insert(
                contentsOf: Data(bytes: &length, count: 4) + chunk + Data(bytes: &crc, count: 4), at: 33)
        } else {
            let length = UInt16(text.count + 2)
            data.insert(contentsOf: Data([0xFF, 0xFE, UInt8(length >> 8), UInt8(length & 0xFF)]) + text, at: 2)
        }
        return data
    }
}

/// The CRC-32 of PNG chunks (ISO 3309, the same as zlib's).
enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 { value = value & 1 == 1 ? 0xEDB8_8320 ^ (value >> 1) : value >> 1 }
        return value
    }

    static func checksum(_ data: Data) -> UInt32 {
        ~data.reduce(~UInt32(0)) { crc, byte in table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
    }
}
