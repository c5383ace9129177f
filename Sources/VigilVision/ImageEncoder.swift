internal import CVigilImage
import Foundation

/// Encodes pixels as JPEG or PNG: thumbnails for people, and images made by tests.
public enum ImageEncoder {
    /// `pixels` has `components` bytes per pixel: 1 grey or 3 RGB.
    public static func jpeg(
        _ pixels: [UInt8], width: Int, height: Int, components: Int = 3, quality: Int = 85
    ) throws(ImageError) -> Data {
        try encode(pixels, width: width, height: height, components: components) { input, out, size, info in
            vigil_jpeg_encode(input, UInt32(width), UInt32(height), UInt32(components), Int32(quality), out, size, info)
        }
    }

    /// `pixels` has `components` bytes per pixel: 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA.
    public static func png(_ pixels: [UInt8], width: Int, height: Int, components: Int = 3) throws(ImageError) -> Data {
        try encode(pixels, width: width, height: height, components: components) { input, out, size, info in
            vigil_png_encode(input, UInt32(width), UInt32(height), UInt32(components), out, size, info)
        }
    }

    private static func encode(
        _ pixels: [UInt8], width: Int, height: Int, components: Int,
        _ body: (
            UnsafePointer<UInt8>, UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>, UnsafeMutablePointer<Int>,
            UnsafeMutablePointer<vigil_image_info>
        ) -> Int32
    ) throws(ImageError) -> Data {
        guard width > 0, height > 0, pixels.count == width * height * components else {
            throw ImageError(.corrupt, "\(pixels.count) bytes are not \(width)×\(height)×\(components)")
        }
        var info = vigil_image_info()
        var buffer: UnsafeMutablePointer<UInt8>?
        var size = 0
        let status = pixels.withUnsafeBufferPointer { body($0.baseAddress!, &buffer, &size, &info) }
        guard status == 0, let buffer else {
            let message = withUnsafeBytes(of: info.message) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            throw ImageError(.corrupt, "cannot encode: \(message)")
        }
        defer { vigil_image_free(buffer) }
        return Data(bytes: buffer, count: size)
    }
}
