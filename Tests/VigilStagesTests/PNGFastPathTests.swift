import CVigilImage
import Foundation
import Testing
import VigilVision

/// The fast PNG path (libdeflate, Vigil's own unfiltering) against libpng, byte for byte: on every file it takes,
/// the same pixels; every other file, and every damaged one, it leaves to libpng, so `vigil_png_decode` answers
/// exactly as libpng does.
@Suite("PNG fast path")
struct PNGFastPathTests {
    struct Decoded: Equatable {
        var status: Int32
        var pixels: [UInt8]
        var components: UInt32
    }

    static func run(
        _ data: Data,
        _ decoder: (UnsafePointer<UInt8>, Int, UnsafeMutablePointer<UInt8>, Int, UnsafeMutablePointer<vigil_image_info>)
            -> Int32
    ) -> Decoded {
        var info = vigil_image_info()
        let header = data.withUnsafeBytes { raw in
            vigil_png_header(raw.bindMemory(to: UInt8.self).baseAddress!, raw.count, &info)
        }
        let size = header == 0 ? Int(info.width) * Int(info.height) * 3 : 0
        var pixels = [UInt8](repeating: 0xA5, count: size)
        info = vigil_image_info()
        let status = data.withUnsafeBytes { raw in
            pixels.withUnsafeMutableBufferPointer { out in
                decoder(raw.bindMemory(to: UInt8.self).baseAddress!, raw.count, out.baseAddress!, out.count, &info)
            }
        }
        return Decoded(status: status, pixels: pixels, components: info.components)
    }

    static func libpng(_ data: Data) -> Decoded { run(data) { vigil_png_decode_libpng($0, $1, $2, $3, $4) } }
    static func fast(_ data: Data) -> Decoded { run(data) { vigil_png_decode_fast($0, $1, $2, $3, $4) } }
    static func either(_ data: Data) -> Decoded { run(data) { vigil_png_decode($0, $1, $2, $3, $4) } }

    static let gammaSRGB: (String, [UInt8]) = ("gAMA", HandMadePNG.bigEndian(45_455))
    static let text: (String, [UInt8]) = ("tEXt", Array("Comment\u{0}camera 7".utf8))

    /// Files the fast path takes, made to reach every branch of its unfiltering.
    static let taken: [(String, HandMadePNG)] = [
        ("RGB, the five filters in turn", HandMadePNG(width: 97, height: 61)),
        ("grey, the five filters in turn", HandMadePNG(width: 97, height: 61, colorType: 0)),
        ("RGB, no filter", HandMadePNG(width: 40, height: 9, filter: { _ in 0 })),
        ("RGB, sub", HandMadePNG(width: 40, height: 9, filter: { _ in 1 })),
        ("RGB, up", HandMadePNG(width: 40, height: 9, filter: { _ in 2 })),
        ("RGB, average", HandMadePNG(width: 40, height: 9, filter: { _ in 3 })),
        ("RGB, Paeth", HandMadePNG(width: 40, height: 9, filter: { _ in 4 })),
        ("grey, Paeth", HandMadePNG(width: 40, height: 9, colorType: 0, filter: { _ in 4 })),
        ("one pixel", HandMadePNG(width: 1, height: 1)),
        ("one column", HandMadePNG(width: 1, height: 30)),
        ("over seven IDAT chunks", HandMadePNG(width: 64, height: 48, idatChunks: 7)),
        (
            "sRGB gamma, text before and after, a suggested palette",
            HandMadePNG(
                width: 33, height: 17, beforeData: [gammaSRGB, text, ("PLTE", [0, 0, 0, 255, 255, 255])],
                afterData: [text])
        ),
        ("a zlib stream over several stored blocks", HandMadePNG(width: 300, height: 100)),
    ]

    @Test(arguments: taken)
    func samePixelsAsLibpng(_ name: String, _ png: HandMadePNG) {
        let data = png.data()
        let reference = Self.libpng(data)
        #expect(reference.status == 0, "\(name): libpng refused it")
        Self.expectTaken(data, sameAs: reference, name)
    }

    /// The fast path took `data` (it answers 1) and made libpng's pixels; so does the decoder Vigil uses.
    static func expectTaken(_ data: Data, sameAs reference: Decoded, _ name: String) {
        let fast = Self.fast(data)
        #expect(fast.status == 1, "\(name): the fast path left it to libpng")
        #expect(fast.components == reference.components, "\(name)")
        #expect(firstDifference(fast.pixels, reference.pixels) == nil, "\(name)")
        let either = Self.either(data)
        #expect(either.status == reference.status && either.components == reference.components, "\(name)")
        #expect(firstDifference(either.pixels, reference.pixels) == nil, "\(name)")
    }

    /// Where two decodings part: the first differing byte's offset and both bytes, or the lengths. Compared this
    /// way, not with `==` on the arrays, so that a failure on a camera-sized frame is reported at once rather
    /// than after a diff of millions of bytes.
    static func firstDifference(_ pixels: [UInt8], _ reference: [UInt8]) -> String? {
        guard pixels.count == reference.count else { return "\(pixels.count) bytes against \(reference.count)" }
        guard let offset = pixels.indices.first(where: { pixels[$0] != reference[$0] }) else { return nil }
        return "byte \(offset) (pixel \(offset / 3)): \(pixels[offset]) against \(reference[offset])"
    }

    /// Paeth on RGB rows of every width from one pixel to nine (the whole-pixel steps and the byte-wise last pixel
    /// in every combination), on pixels that make every choice of the predictor: random ones, and ones drawn
    /// from three values so that ties between the distances are common.
    @Test(arguments: [256, 3])
    func paethOnEveryShortWidth(_ values: Int) {
        // A fixed linear congruential sequence: the same pixels on every run.
        var state = UInt64(values)
        for width in 1...9 {
            let png = HandMadePNG(width: width, height: 12, filter: { $0 == 5 ? 2 : 4 })
            let pixels = (0..<(width * 12 * 3)).map { _ in
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return UInt8(Int(state >> 33) % values * 255 / (values - 1))
            }
            let data = png.data(pixels: pixels)
            let reference = Self.libpng(data)
            #expect(reference.status == 0, "width \(width): libpng refused it")
            #expect(
                Self.firstDifference(reference.pixels, pixels) == nil,
                "width \(width): libpng did not give back the pixels")
            Self.expectTaken(data, sameAs: reference, "Paeth, width \(width), \(values) values")
        }
    }

    /// libpng's own encoder (zlib, adaptive filters) on real photos, in colour and in grey, at camera sizes.
    @Test func samePixelsOnEncodedPhotos() throws {
        for name in ["bus.jpg", "zidane.jpg"] {
            let (image, _) = try ImageDecoder.decode(try DetectorTests.photo(name))
            let rgb = try ImageEncoder.png(Array(image.pixels), width: image.width, height: image.height)
            let grey = stride(from: 0, to: image.pixels.count, by: 3).map { image.pixels[$0 + 1] }
            let greyPNG = try ImageEncoder.png(grey, width: image.width, height: image.height, components: 1)
            for data in [rgb, greyPNG] {
                let reference = Self.libpng(data)
                #expect(reference.status == 0)
                Self.expectTaken(data, sameAs: reference, name)
            }
        }
    }

    static var badCRC: Data {
        var data = HandMadePNG(width: 20, height: 10).data()
        data[data.count - 12 - 1] ^= 0x40  // the last byte of the IDAT chunk's CRC, just before IEND
        return data
    }

    static var badChecksum: Data {
        var data = HandMadePNG(width: 20, height: 10).data()
        // The Adler-32 is the last 4 bytes of the IDAT body; flip one and fix the chunk's CRC, so only the
        // stream is wrong.
        let idatEnd = data.count - 12 - 4
        data[idatEnd - 1] ^= 0x01
        let length = Int(UInt32(data[33]) << 24 | UInt32(data[34]) << 16 | UInt32(data[35]) << 8 | UInt32(data[36]))
        let crc = SyntheticImages.crc32(Array(data[37..<(41 + length)]))
        for (offset, byte) in HandMadePNG.bigEndian(crc).enumerated() { data[41 + length + offset] = byte }
        return data
    }

    /// Files the fast path must leave to libpng: other formats, and damage of every kind.
    static let left: [(String, Data)] = [
        ("RGBA", HandMadePNG(width: 16, height: 8, colorType: 6).data()),
        ("grey and alpha", HandMadePNG(width: 16, height: 8, colorType: 4).data()),
        (
            "palette",
            HandMadePNG(width: 16, height: 8, colorType: 3, beforeData: [("PLTE", Array(repeating: 128, count: 768))])
                .data()
        ),
        ("16-bit RGB", HandMadePNG(width: 16, height: 8, bitDepth: 16).data()),
        ("interlaced", HandMadePNG(width: 16, height: 8, interlace: 1).data()),
        ("transparent colour", HandMadePNG(width: 16, height: 8, beforeData: [("tRNS", [0, 1, 0, 2, 0, 3])]).data()),
        (
            "another gamma",
            HandMadePNG(width: 16, height: 8, beforeData: [("gAMA", HandMadePNG.bigEndian(100_000))]).data()
        ),
        ("text between image chunks", HandMadePNG(width: 16, height: 8, idatChunks: 3, amidData: [text]).data()),
        ("an unknown critical chunk", HandMadePNG(width: 16, height: 8, beforeData: [("ZZZZ", [1])]).data()),
        ("a wrong CRC", badCRC),
        ("a wrong zlib checksum", badChecksum),
        ("an invalid filter type", HandMadePNG(width: 16, height: 8, filter: { $0 == 5 ? 5 : 1 }).data()),
        ("no IEND", HandMadePNG(width: 16, height: 8, withEnd: false).data()),
        ("bytes after the zlib stream", HandMadePNG(width: 16, height: 8, trailingStreamBytes: [1, 2, 3]).data()),
        ("cut short", HandMadePNG(width: 16, height: 8).data().prefix(60)),
    ]

    @Test(arguments: left)
    func leftToLibpng(_ name: String, _ data: Data) {
        #expect(Self.fast(data).status == 0, "\(name): the fast path took it")
        #expect(Self.either(data) == Self.libpng(data), "\(name)")
    }

    /// The damaged files are errors through the decoder Vigil uses, not pixels.
    @Test func damagedFilesAreRefused() {
        for (name, data) in [("CRC", Self.badCRC), ("checksum", Self.badChecksum)] {
            #expect(throws: ImageError.self, "\(name)") { try ImageDecoder.decode(data) }
        }
    }
}
