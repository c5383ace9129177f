internal import CVigilImage
import Foundation

/// The image formats Vigil reads, told by their first bytes (never by a file name).
public enum ImageFormat: String, Sendable, Codable {
    case jpeg
    case png

    /// The format the bytes start with, or nil.
    public static func sniff(_ data: Data) -> ImageFormat? {
        let prefix = [UInt8](data.prefix(8))
        if prefix.starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
        if prefix == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] { return .png }
        return nil
    }
}

/// An image's size and channels, read from its header without decoding pixels.
public struct ImageHeader: Sendable, Hashable, Codable {
    public var format: ImageFormat
    public var width: Int
    public var height: Int
    /// Channels as stored: 1 grey, 2 grey + alpha, 3 colour, 4 colour + alpha (CMYK JPEGs also say 4).
    public var components: Int

    public var pixels: Int { width * height }
}

/// Decoded pixels, 8-bit RGB interleaved, row by row.
public struct RGBImage: Sendable {
    public var width: Int
    public var height: Int
    public var pixels: PixelBuffer

    public init(width: Int, height: Int, pixels: PixelBuffer) {
        self.width = width
        self.height = height
        self.pixels = pixels
    }

    /// An image of the given bytes (copied).
    public init(width: Int, height: Int, pixels: [UInt8]) {
        self.init(width: width, height: height, pixels: PixelBuffer(pixels))
    }

    /// The image shrunk by `factor` in each direction, each pixel the mean of its factor × factor block (the
    /// blocks along the right and bottom edges may be smaller): what a JPEG decoded at N/8 gives at 1/8 when
    /// reduced by N, close to libjpeg's own 1/8 decode, which keeps each 8 × 8 block's mean.
    public func boxReduced(by factor: Int) -> RGBImage {
        guard factor > 1 else { return self }
        precondition(pixels.count == width * height * 3, "the image holds RGB pixels")
        let outWidth = (width + factor - 1) / factor, outHeight = (height + factor - 1) / factor
        // A small image for a moment: not worth a pooled block.
        let output = PixelBuffer(count: outWidth * outHeight * 3, pool: nil) { out in
            let status = pixels.withUnsafeBufferPointer { source in
                vigil_rgb_box_reduce(
                    source.baseAddress!, UInt32(width), UInt32(height), UInt32(factor), out.baseAddress!)
            }
            precondition(status == 0, "reducing \(width)×\(height) by \(factor): out of memory")
        }
        return RGBImage(width: outWidth, height: outHeight, pixels: output)
    }
}

/// Why bytes could not be read as an image.
public struct ImageError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Codable {
        case empty
        case unknownFormat = "unknown-format"
        case corrupt
        case tooLarge = "too-large"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(message) [\(code.rawValue)]" }
}
