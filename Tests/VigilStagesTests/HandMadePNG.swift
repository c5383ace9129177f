import Foundation

/// A PNG built chunk by chunk, for what encoders never write on demand: a chosen filter on every row, the image
/// data split over many IDAT chunks, chunks anywhere, and damage anywhere. The zlib stream is made of stored
/// (uncompressed) deflate blocks, which every inflater must read.
struct HandMadePNG: Sendable {
    var width: Int
    var height: Int
    /// 0 grey, 2 RGB, 3 palette, 4 grey and alpha, 6 RGBA.
    var colorType: UInt8 = 2
    var bitDepth: UInt8 = 8
    var interlace: UInt8 = 0
    /// The filter type of each row (0 none, 1 sub, 2 up, 3 average, 4 Paeth; others are invalid).
    var filter: @Sendable (Int) -> UInt8 = { UInt8($0 % 5) }
    /// How many IDAT chunks the zlib stream is cut into.
    var idatChunks = 1
    /// Chunks after IHDR, between the first IDAT and the rest, and before IEND.
    var beforeData: [(String, [UInt8])] = []
    var amidData: [(String, [UInt8])] = []
    var afterData: [(String, [UInt8])] = []
    var withEnd = true
    /// Bytes appended to the zlib stream, after its checksum.
    var trailingStreamBytes: [UInt8] = []

    /// Bytes per pixel (whole bytes: 8 and 16 bits only).
    var bytesPerPixel: Int {
        let samples: [UInt8: Int] = [0: 1, 2: 3, 3: 1, 4: 2, 6: 4]
        return samples[colorType, default: 3] * Int(bitDepth) / 8
    }

    /// Pixels that vary across and down, deterministic.
    func samplePixels() -> [UInt8] {
        let count = width * height * bytesPerPixel
        return (0..<count).map { index in
            let x = index % (width * bytesPerPixel)
            let y = index / (width * bytesPerPixel)
            return UInt8(truncatingIfNeeded: x * 7 + y * 13 + (x * y) % 29)
        }
    }

    func data(pixels: [UInt8]? = nil) -> Data {
        let pixels = pixels ?? samplePixels()
        var header: [UInt8] = []
        header += Self.bigEndian(UInt32(width)) + Self.bigEndian(UInt32(height))
        header += [bitDepth, colorType, 0, 0, interlace]
        var stream = Self.zlibStored(filtered(pixels)) + trailingStreamBytes
        var parts: [[UInt8]] = []
        let partSize = max(1, (stream.count + idatChunks - 1) / idatChunks)
        while !stream.isEmpty {
            parts.append(Array(stream.prefix(partSize)))
            stream.removeFirst(min(partSize, stream.count))
        }
        var png: [UInt8] = [137, 80, 78, 71, 13, 10, 26, 10]
        png += Self.chunk("IHDR", header)
        for (type, body) in beforeData { png += Self.chunk(type, body) }
        for (index, part) in parts.enumerated() {
            png += Self.chunk("IDAT", part)
            if index == 0 { for (type, body) in amidData { png += Self.chunk(type, body) } }
        }
        for (type, body) in afterData { png += Self.chunk(type, body) }
        if withEnd { png += Self.chunk("IEND", []) }
        return Data(png)
    }

    /// Each row behind its filter byte, filtered as the PNG specification says.
    private func filtered(_ pixels: [UInt8]) -> [UInt8] {
        let stride = width * bytesPerPixel
        let bpp = bytesPerPixel
        var out: [UInt8] = []
        out.reserveCapacity(height * (stride + 1))
        for y in 0..<height {
            let type = filter(y)
            out.append(type)
            for x in 0..<stride {
                let value = Int(pixels[y * stride + x])
                let left = x >= bpp ? Int(pixels[y * stride + x - bpp]) : 0
                let up = y > 0 ? Int(pixels[(y - 1) * stride + x]) : 0
                let corner = x >= bpp && y > 0 ? Int(pixels[(y - 1) * stride + x - bpp]) : 0
                let predictor: Int
                switch type {
                case 1: predictor = left
                case 2: predictor = up
                case 3: predictor = (left + up) / 2
                case 4: predictor = Self.paeth(left, up, corner)
                default: predictor = 0
                }
                out.append(UInt8(truncatingIfNeeded: value - predictor))
            }
        }
        return out
    }

    static func paeth(_ left: Int, _ up: Int, _ corner: Int) -> Int {
        let estimate = left + up - corner
        let toLeft = abs(estimate - left)
        let toUp = abs(estimate - up)
        let toCorner = abs(estimate - corner)
        if toLeft <= toUp && toLeft <= toCorner { return left }
        return toUp <= toCorner ? up : corner
    }

    /// A zlib stream of stored deflate blocks, with its Adler-32.
    static func zlibStored(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        var offset = 0
        repeat {
            let length = min(65_535, bytes.count - offset)
            let last: UInt8 = offset + length == bytes.count ? 1 : 0
            out += [
                last, UInt8(length & 0xFF), UInt8(length >> 8), UInt8(~length & 0xFF), UInt8((~length >> 8) & 0xFF),
            ]
            out += bytes[offset..<(offset + length)]
            offset += length
        } while offset < bytes.count
        var a: UInt32 = 1
        var b: UInt32 = 0
        for byte in bytes {
            a = (a + UInt32(byte)) % 65_521
            b = (b + a) % 65_521
        }
        return out + bigEndian(b << 16 | a)
    }

    static func chunk(_ type: String, _ body: [UInt8]) -> [UInt8] {
        let typed = Array(type.utf8) + body
        return bigEndian(UInt32(body.count)) + typed + bigEndian(SyntheticImages.crc32(typed))
    }

    static func bigEndian(_ value: UInt32) -> [UInt8] {
        [24, 16, 8, 0].map { UInt8((value >> UInt32($0)) & 0xFF) }
    }
}
