import Foundation
import Testing
import VigilStages
import VigilVision

/// Pixels handed from validate to detect in one process: the same verdicts and detections as without, one
/// decode instead of two.
@Suite("Decoded images shared between validate and detect")
struct DecodedImageCacheTests {
    static let now = Date(timeIntervalSince1970: 1_763_800_000)

    static func image(_ width: Int, _ height: Int, fill: UInt8) -> RGBImage {
        RGBImage(width: width, height: height, pixels: [UInt8](repeating: fill, count: width * height * 3))
    }

    /// Any header: the cache keeps it beside the pixels and never reads it.
    static let header = try! ImageDecoder.header(SyntheticImages.colourJPEG)

    @Test func entriesAreTakenOnceAtTheirScaleAndTheOldestGoFirst() {
        let cache = DecodedImageCache(byteLimit: 3 * 100 * 100 * 3)
        #expect(cache.expectedSize == nil)
        cache.expect(width: 320, height: 320)
        cache.expect(width: 416, height: 416)
        #expect(cache.expectedSize?.width == 416)
        for (index, key) in ["a", "b", "c", "d"].enumerated() {
            cache.insert(Self.image(100, 100, fill: UInt8(index)), header: Self.header, scale: 4, for: key)
        }
        // Three fit: "a" went first.
        #expect(cache.statistics.images == 3)
        #expect(cache.take("a", scale: 4) == nil)
        #expect(cache.take("b", scale: 8) == nil, "another scale is another decode")
        #expect(cache.take("b", scale: 4)?.image.pixels.first == 1)
        #expect(cache.take("b", scale: 4) == nil, "taken once")
        let statistics = cache.statistics
        #expect(statistics.hits == 1 && statistics.misses == 3 && statistics.images == 2)
        #expect(statistics.bytes == 2 * 100 * 100 * 3)
        // An image larger than the whole cache is not kept.
        cache.insert(Self.image(400, 400, fill: 9), header: Self.header, scale: 8, for: "big")
        #expect(cache.statistics.images == 2)
    }

    /// A small frame decoded into a block kept from a larger one holds the whole block: the bound counts that.
    @Test func theBoundCountsTheMemoryAnImageHoldsNotItsPixels() {
        let pool = PixelBuffer.Pool(limitBytes: 4 << 20)
        let block = 1 << 20
        // Two 1 MiB blocks kept in the pool, then two 10×10 images decoded into them.
        var large: [PixelBuffer]? = (0..<2).map { _ in
            PixelBuffer(count: block, pool: pool) { $0.initialize(repeating: 0) }
        }
        #expect(large?.count == 2)
        large = nil
        #expect(pool.current.keptBytes == 2 * block)
        let small = (0..<2).map { index in
            RGBImage(
                width: 10, height: 10,
                pixels: PixelBuffer(count: 300, pool: pool) { $0.initialize(repeating: UInt8(index)) })
        }
        #expect(small.allSatisfy { $0.pixels.count == 300 && $0.pixels.capacity == block })

        let cache = DecodedImageCache(byteLimit: block + block / 2)
        cache.insert(small[0], header: Self.header, scale: 8, for: "first")
        #expect(cache.statistics.bytes == block)
        // 600 bytes of pixels, but two blocks would be 2 MiB: the first goes.
        cache.insert(small[1], header: Self.header, scale: 8, for: "second")
        #expect(cache.statistics.images == 1 && cache.statistics.bytes == block)
        #expect(cache.take("first", scale: 8) == nil)
        #expect(cache.take("second", scale: 8)?.image.pixels.first == 1)
        #expect(cache.statistics.bytes == 0)
    }

    @Test func boxReductionAveragesBlocksAndKeepsTheEdges() {
        // 5×3, factor 2: blocks 2×2, 2×2, 1×2 over the first two rows, then 2×1, 2×1, 1×1.
        let pixels = (0..<15).flatMap { index -> [UInt8] in [UInt8(index * 10), 0, 255] }
        let reduced = RGBImage(width: 5, height: 3, pixels: pixels).boxReduced(by: 2)
        #expect(reduced.width == 3 && reduced.height == 2)
        let red = stride(from: 0, to: reduced.pixels.count, by: 3).map { reduced.pixels[$0] }
        // (0+10+50+60)/4 = 30, (20+30+70+80)/4 = 50, (40+90)/2 = 65; then (100+110)/2, (120+130)/2, 140.
        #expect(red == [30, 50, 65, 105, 125, 140])
        #expect(reduced.pixels[1] == 0 && reduced.pixels[2] == 255)
    }

    @Test(
        arguments: [
            ("colour JPEG", SyntheticImages.colourJPEG, nil),
            (
                "colour 1280×720 JPEG",
                SyntheticImages.jpeg(SyntheticImages.colourPixels(width: 1280, height: 720), 1280, 720), nil
            ),
            ("colour PNG", SyntheticImages.colourPNG, nil),
            ("greyscale JPEG stored as RGB", SyntheticImages.greyJPEGAsRGB, "greyscale"),
            (
                "greyscale 1280×720 JPEG",
                SyntheticImages.jpeg(SyntheticImages.greyPixels(width: 1280, height: 720), 1280, 720), "greyscale"
            ),
            ("tinted night infrared frame", SyntheticImages.infraredJPEG, "greyscale"),
            ("greyscale JPEG, one channel", SyntheticImages.greyJPEGOneChannel, "greyscale"),
            ("truncated JPEG", SyntheticImages.truncatedJPEG, "corrupt-image"),
        ] as [(String, Data, String?)])
    func sharingChangesNoVerdictAndLeavesOnlyValidImages(label: String, data: Data, expected: String?) throws {
        let cache = DecodedImageCache(byteLimit: 64 << 20)
        cache.expect(width: 416, height: 416)
        let alone = ImageValidator(clock: { Self.now })
        let sharing = ImageValidator(clock: { Self.now }, sharing: cache)
        let name = data.first == 0x89 ? "cam1-1763790000.png" : "cam1-1763790000.jpg"
        let plain = alone.judge(name: name, data: data, key: "k")
        let shared = sharing.judge(name: name, data: data, key: "k")
        #expect(plain.rejection?.code == expected, "\(label)")
        #expect(shared.rejection?.code == expected, "\(label)")
        // The colour statistic is taken on the same 1/8 grid either way: the same within JPEG rounding.
        #expect(abs((plain.measured.chromaSpread ?? 0) - (shared.measured.chromaSpread ?? 0)) < 0.5, "\(label)")
        #expect(abs((plain.measured.meanChroma ?? 0) - (shared.measured.meanChroma ?? 0)) < 0.5, "\(label)")
        let header = try? ImageDecoder.header(data)
        let scale = header.map { ImageDecoder.scaleNumerator($0, atLeast: (416, 416)) } ?? 8
        let kept = cache.take("k", scale: scale)
        #expect((kept != nil) == (expected == nil), "\(label): only a valid image is left for the detector")
        if let kept, let header {
            #expect(kept.header == header)
            #expect(kept.image.width == (header.width * Int(scale) + 7) / 8)
        }
    }

    @Test func aDetectionFromSharedPixelsIsTheDetectionFromItsOwnDecode() throws {
        let detector = try Detector(.defaultModel())
        for name in ["bus.jpg", "zidane.jpg"] {
            let photo = try DetectorTests.photo(name)
            let own = try detector.detect(photo)
            let cache = DecodedImageCache(byteLimit: 64 << 20)
            cache.expect(width: 416, height: 416)
            let verdict = ImageValidator(clock: { Self.now }, sharing: cache).judge(
                name: "cam1-1763790000.jpg", data: photo, key: name)
            #expect(verdict.isValid)
            let shared = try detector.detect(photo, cacheKey: name, cache: cache)
            #expect(cache.statistics.hits == 1, "\(name): the validator's pixels were used")
            #expect(shared.detections == own.detections, "\(name)")
            #expect(shared.width == own.width && shared.height == own.height)
            // Nothing left: a second detection decodes for itself, with the same result.
            #expect(try detector.detect(photo, cacheKey: name, cache: cache).detections == own.detections)
            #expect(cache.statistics.misses == 1)
        }
    }
}
