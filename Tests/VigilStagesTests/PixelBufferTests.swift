import Foundation
import Testing
import VigilVision

/// Decoded frames reuse the memory of frames that are gone, within the pool's limit.
@Suite("Pooled pixel buffers")
struct PixelBufferTests {
    static func frame(width: Int, height: Int, seed: Int) throws -> Data {
        let pixels = (0..<(width * height * 3)).map { UInt8(truncatingIfNeeded: $0 * 7 + seed) }
        return try ImageEncoder.jpeg(pixels, width: width, height: height, quality: 90)
    }

    static func address(_ image: RGBImage) -> UnsafeRawPointer? {
        image.pixels.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress) }
    }

    @Test("a frame is decoded into the block the frame before it left, with its own pixels")
    func nextFrameReusesTheBlock() throws {
        let pool = PixelBuffer.Pool(limitBytes: 8 << 20)
        let (first, second) = (
            try Self.frame(width: 640, height: 480, seed: 1), try Self.frame(width: 640, height: 480, seed: 90)
        )
        var address: UnsafeRawPointer?
        do {
            let decoded = try ImageDecoder.decode(first, pool: pool).image
            address = Self.address(decoded)
            #expect(pool.current.keptBytes == 0, "held while the image lives")
        }
        #expect(pool.current.keptBytes == 640 * 480 * 3, "given back when the image is gone")
        let again = try ImageDecoder.decode(second, pool: pool).image
        #expect(Self.address(again) == address)
        #expect(pool.current.reused == 1 && pool.current.allocated == 1)
        // The second frame's pixels, not the first's left in the block.
        let fresh = try ImageDecoder.decode(second, pool: nil).image
        #expect(Array(again.pixels) == Array(fresh.pixels))
    }

    @Test("a smaller frame takes the smallest block that fits; a larger one maps its own")
    func smallestBlockThatFits() throws {
        let pool = PixelBuffer.Pool(limitBytes: 8 << 20)
        do {
            let large = PixelBuffer(count: 3_000_000, pool: pool) { $0.initialize(repeating: 1) }
            let middle = PixelBuffer(count: 1_000_000, pool: pool) { $0.initialize(repeating: 2) }
            #expect(large.count + middle.count == 4_000_000)
        }
        #expect(pool.current.keptBytes == 4_000_000)
        let small = PixelBuffer(count: 900_000, pool: pool) { $0.initialize(repeating: 3) }
        #expect(pool.current.keptBytes == 3_000_000, "the 1 MB block was taken, not the 3 MB one")
        #expect(small.count == 900_000 && small.allSatisfy { $0 == 3 })
        let huge = PixelBuffer(count: 5_000_000, pool: pool) { $0.initialize(repeating: 4) }
        #expect(pool.current.keptBytes == 3_000_000 && pool.current.allocated == 3)
        #expect(huge.last == 4)
    }

    @Test("past the limit the largest blocks are let go")
    func keptWithinTheLimit() {
        let pool = PixelBuffer.Pool(limitBytes: 2_500_000)
        do {
            let blocks = [1_000_000, 2_000_000, 1_200_000].map { count in
                PixelBuffer(count: count, pool: pool) { $0.initialize(repeating: 0) }
            }
            #expect(blocks.count == 3)
        }
        // 1.0 + 1.2 MB kept; the 2 MB block went back to the system.
        #expect(pool.current.keptBytes == 2_200_000)
    }

    @Test("a PNG's inflated rows are decoded in a pooled block too, given back as soon as its pixels are out")
    func pngRowsInAPooledBlock() throws {
        let pool = PixelBuffer.Pool(limitBytes: 8 << 20)
        let (width, height) = (320, 240)
        let pixels = (0..<(width * height * 3)).map { UInt8(truncatingIfNeeded: $0 * 13 + $0 / 7) }
        let png = try ImageEncoder.png(pixels, width: width, height: height)
        let rows = height * (width * 3 + 1) + width * 3
        do {
            let decoded = try ImageDecoder.decode(png, pool: pool).image
            #expect(Array(decoded.pixels) == pixels)
            #expect(pool.current.keptBytes == rows, "the rows' block is back while the image lives")
        }
        let again = try ImageDecoder.decode(png, pool: pool).image
        #expect(Array(again.pixels) == pixels)
        #expect(pool.current.reused == 2, "the pixels and the rows both in kept blocks")
    }

    @Test("a block no frame took since the last trim is let go; one in use is kept")
    func trimLetsIdleBlocksGo() {
        let pool = PixelBuffer.Pool(limitBytes: 8 << 20)
        do {
            let blocks = [1_000_000, 2_000_000].map { count in
                PixelBuffer(count: count, pool: pool) { $0.initialize(repeating: 0) }
            }
            #expect(blocks.count == 2)
        }
        #expect(pool.trim() == 0, "both were given back since the last trim")
        // A frame takes the smaller block and gives it back; the larger one waits.
        _ = PixelBuffer(count: 900_000, pool: pool) { $0.initialize(repeating: 1) }
        #expect(pool.trim() == 2_000_000)
        #expect(pool.current.keptBytes == 1_000_000)
    }

    @Test("a frame that fails to decode gives its block back")
    func failedDecodeGivesTheBlockBack() throws {
        let pool = PixelBuffer.Pool(limitBytes: 8 << 20)
        var damaged = try Self.frame(width: 640, height: 480, seed: 5)
        damaged = damaged.prefix(damaged.count / 2)
        #expect(throws: ImageError.self) { try ImageDecoder.decode(damaged, pool: pool) }
        #expect(pool.current.keptBytes == 640 * 480 * 3)
    }
}
