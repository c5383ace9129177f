import Foundation
import Testing
import VigilVision

/// The detector's input resize (C, vertical pass then horizontal) against a plain bilinear written out here
/// the obvious way, and the decoder's one-call path against decoding and resizing by hand.
@Suite("Resizing to the detector's input")
struct ImageResizerTests {
    /// Bilinear with pixel centres aligned, horizontal first, in doubles: the reference.
    static func reference(_ image: RGBImage, width: Int, height: Int) -> [Float] {
        func samples(_ count: Int, _ source: Int) -> [(Int, Int, Double)] {
            (0..<count).map { index in
                let position = max(0, (Double(index) + 0.5) * Double(source) / Double(count) - 0.5)
                let low = min(Int(position), source - 1)
                return (low, min(low + 1, source - 1), position - Double(low))
            }
        }
        let columns = samples(width, image.width), rows = samples(height, image.height)
        func pixel(_ x: Int, _ y: Int, _ channel: Int) -> Double {
            Double(image.pixels[(y * image.width + x) * 3 + channel])
        }
        var output = [Float](repeating: 0, count: 3 * width * height)
        for y in 0..<height {
            let (y0, y1, fy) = rows[y]
            for x in 0..<width {
                let (x0, x1, fx) = columns[x]
                for channel in 0..<3 {
                    let upper = pixel(x0, y0, channel) + (pixel(x1, y0, channel) - pixel(x0, y0, channel)) * fx
                    let lower = pixel(x0, y1, channel) + (pixel(x1, y1, channel) - pixel(x0, y1, channel)) * fx
                    output[channel * width * height + y * width + x] = Float((upper + (lower - upper) * fy) / 255)
                }
            }
        }
        return output
    }

    static func noise(width: Int, height: Int, seed: UInt64) -> RGBImage {
        var state = seed
        let pixels = (0..<width * height * 3).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 56)
        }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    @Test(arguments: [
        (810, 1080, 416, 416), (405, 540, 416, 416), (1280, 720, 416, 416), (64, 48, 416, 416), (1, 1, 8, 8),
        (7, 3, 5, 9),
    ])
    func matchesThePlainBilinear(sizes: (Int, Int, Int, Int)) throws {
        let (width, height, targetWidth, targetHeight) = sizes
        let image = Self.noise(width: width, height: height, seed: UInt64(width * 31 + height))
        var output = [Float](repeating: -1, count: 3 * targetWidth * targetHeight)
        ImageResizer.planarRGB(image, width: targetWidth, height: targetHeight, into: &output)
        let expected = Self.reference(image, width: targetWidth, height: targetHeight)
        let worst = zip(output, expected).map { abs($0 - $1) }.max() ?? 0
        #expect(worst < 1e-5, "largest difference \(worst)")
        #expect(output.allSatisfy { (0...1).contains($0) })
    }

    @Test func decodingToTheInputIsDecodingThenResizing() throws {
        let pixels = SyntheticImages.colourPixels(width: 640, height: 480)
        for data in [
            try ImageEncoder.jpeg(pixels, width: 640, height: 480, quality: 90),
            try ImageEncoder.png(pixels, width: 640, height: 480, components: 3),
        ] {
            let (input, header) = try ImageDecoder.decodePlanar(data, width: 416, height: 416)
            #expect(header.width == 640 && header.height == 480)
            let decoded = try ImageDecoder.decode(data, atLeast: (416, 416)).image
            var expected = [Float](repeating: 0, count: 3 * 416 * 416)
            ImageResizer.planarRGB(decoded, width: 416, height: 416, into: &expected)
            #expect(input == expected)
        }
        let truncated = try ImageEncoder.jpeg(pixels, width: 640, height: 480, quality: 90).prefix(20_000)
        let error = #expect(throws: ImageError.self) {
            try ImageDecoder.decodePlanar(Data(truncated), width: 416, height: 416)
        }
        #expect(error?.code == .corrupt)
    }
}
