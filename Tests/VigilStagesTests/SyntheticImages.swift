import Foundation
import VigilVision

/// Images made by the tests, one per validation case.
enum SyntheticImages {
    /// A colourful scene: hue changes across, brightness down, with some texture.
    static func colourPixels(width: Int = 640, height: Int = 480) -> [UInt8] {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let index = (y * width + x) * 3
                pixels[index] = UInt8((x * 255) / width)
                pixels[index + 1] = UInt8((y * 255) / height)
                pixels[index + 2] = UInt8(((x + y) * 7) % 256)
            }
        }
        return pixels
    }

    /// Grey levels with texture, as an RGB image whose channels are equal (or tinted by `tint`, as a night
    /// infrared frame often is: the same colour cast everywhere).
    static func greyPixels(width: Int = 640, height: Int = 480, tint: (Int, Int, Int) = (0, 0, 0)) -> [UInt8] {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let level = (x * 3 + y * 5 + (x * y) % 17) % 200 + 20
                let index = (y * width + x) * 3
                pixels[index] = UInt8(clamping: level + tint.0)
                pixels[index + 1] = UInt8(clamping: level + tint.1)
                pixels[index + 2] = UInt8(clamping: level + tint.2)
            }
        }
        return pixels
    }

    static func jpeg(_ pixels: [UInt8], _ width: Int, _ height: Int) -> Data {
        try! ImageEncoder.jpeg(pixels, width: width, height: height)
    }

    static var colourJPEG: Data { try! ImageEncoder.jpeg(colourPixels(), width: 640, height: 480) }

    static var greyJPEGOneChannel: Data {
        let rgb = greyPixels()
        let grey = stride(from: 0, to: rgb.count, by: 3).map { rgb[$0] }
        return try! ImageEncoder.jpeg(grey, width: 640, height: 480, components: 1)
    }

    static var greyJPEGAsRGB: Data { try! ImageEncoder.jpeg(greyPixels(), width: 640, height: 480) }
    static var infraredJPEG: Data { try! ImageEncoder.jpeg(greyPixels(tint: (18, -6, 22)), width: 640, height: 480) }
    static var tinyJPEG: Data { try! ImageEncoder.jpeg(colourPixels(width: 160, height: 120), width: 160, height: 120) }
    static var colourPNG: Data { try! ImageEncoder.png(colourPixels(), width: 640, height: 480) }

    static var alphaPNG: Data {
        let rgb = colourPixels()
        var rgba: [UInt8] = []
        rgba.reserveCapacity(640 * 480 * 4)
        for index in stride(from: 0, to: rgb.count, by: 3) {
            rgba += [rgb[index], rgb[index + 1], rgb[index + 2], UInt8(index / 3 % 256)]
        }
        return try! ImageEncoder.png(rgba, width: 640, height: 480, components: 4)
    }

    static var truncatedJPEG: Data { colourJPEG.prefix(colourJPEG.count * 6 / 10) }

    static var corruptJPEG: Data {
        var data = colourJPEG
        let middle = data.count / 2
        for offset in 0..<64 { data[middle + offset] = UInt8((offset * 97 + 13) % 256) }
        return data
    }

    /// A JPEG whose frame header claims 60,000 × 60,000 pixels.
    static var hugeHeaderJPEG: Data {
        var data = tinyJPEG
        // SOF0 (FF C0): length (2), precision (1), height (2), width (2).
        let bytes = [UInt8](data)
        let sof = (0..<(bytes.count - 1)).first { bytes[$0] == 0xFF && bytes[$0 + 1] == 0xC0 }!
        for (offset, byte) in [UInt8(0xEA), 0x60, 0xEA, 0x60].enumerated() { data[sof + 5 + offset] = byte }
        return data
    }

    /// A PNG whose IHDR claims 60,000 × 60,000 pixels (with a correct CRC, so only the size is wrong).
    static var hugeHeaderPNG: Data {
        var data = try! ImageEncoder.png(colourPixels(width: 32, height: 32), width: 32, height: 32)
        // Signature (8), IHDR length (4), "IHDR" (4), width (4), height (4), ... CRC after 13 bytes of data.
        for (offset, byte) in [UInt8(0), 0, 0xEA, 0x60, 0, 0, 0xEA, 0x60].enumerated() { data[16 + offset] = byte }
        let crc = crc32(Array(data[12..<29]))
        for (offset, shift) in [24, 16, 8, 0].enumerated() { data[29 + offset] = UInt8((crc >> UInt32(shift)) & 0xFF) }
        return data
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = (crc >> 1) ^ (0xEDB8_8320 & (0 &- (crc & 1))) }
        }
        return ~crc
    }
}
