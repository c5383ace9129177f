internal import CVigilImage
import Foundation

/// Decodes JPEG (libjpeg-turbo) and PNG (libpng) safely: a corrupt, truncated or hostile file is an
/// `ImageError`, never a crash; dimensions are checked before any pixel buffer is allocated; JPEGs are decoded
/// at the smallest DCT scale (N/8) that still gives what the caller needs.
public enum ImageDecoder {
    /// How far short of the requested size a scaled JPEG decode may fall (see `decode`).
    public static let scaleTolerance = 0.1

    /// The format and dimensions, from the header alone.
    public static func header(_ data: Data) throws(ImageError) -> ImageHeader {
        guard !data.isEmpty else { throw ImageError(.empty, "the file is empty") }
        guard let format = ImageFormat.sniff(data) else {
            throw ImageError(.unknownFormat, "the bytes are neither JPEG nor PNG")
        }
        var info = vigil_image_info()
        let status = data.withUnsafeBytes { raw in
            let bytes = raw.bindMemory(to: UInt8.self).baseAddress!
            return format == .jpeg
                ? vigil_jpeg_header(bytes, raw.count, &info) : vigil_png_header(bytes, raw.count, &info)
        }
        guard status == 0 else { throw ImageError(.corrupt, "unreadable \(format.rawValue) header: \(message(info))") }
        return ImageHeader(
            format: format, width: Int(info.width), height: Int(info.height), components: Int(info.components))
    }

    /// Decodes to RGB. A JPEG is decoded at the smallest scale N/8 whose size is at least `atLeast` in both
    /// directions (less `scaleTolerance`), among 1/8, 2/8, 4/8 and full size (nil: full size; a 1920×1080
    /// frame for a 416×416 detector decodes at 4/8), which skips much of the inverse DCT's work; a PNG always
    /// at full size. Refuses images over `maxPixels` before
    /// allocating. A JPEG libjpeg had to patch up (truncated, corrupt data) is an error: the whole stream is
    /// decoded, so damage anywhere is found. The pixels are written into a block kept by `pool` from a frame
    /// that is gone, where it has one (`PixelBuffer`).
    public static func decode(
        _ data: Data, atLeast minimum: (width: Int, height: Int)? = nil, maxPixels: Int = 50_000_000,
        pool: PixelBuffer.Pool? = .shared
    ) throws(ImageError) -> (image: RGBImage, header: ImageHeader) {
        let header = try header(data)
        guard header.width > 0, header.height > 0 else {
            throw ImageError(.corrupt, "the header says \(header.width)×\(header.height)")
        }
        guard header.pixels <= maxPixels else {
            throw ImageError(
                .tooLarge, "\(header.width)×\(header.height) is over the limit of \(maxPixels) pixels")
        }
        var info = vigil_image_info()
        switch header.format {
        case .jpeg:
            let numerator = scaleNumerator(header, atLeast: minimum)
            let sized = data.withUnsafeBytes { raw in
                vigil_jpeg_scaled_size(raw.bindMemory(to: UInt8.self).baseAddress!, raw.count, numerator, &info)
            }
            guard sized == 0 else { throw ImageError(.corrupt, "unreadable JPEG: \(message(info))") }
            let (width, height) = (Int(info.width), Int(info.height))
            var status: Int32 = 0
            // Every byte is written by the decoder before it is read (a failed decode keeps none): no zero-fill.
            let pixels = PixelBuffer(count: width * height * 3, pool: pool) { out in
                status = data.withUnsafeBytes { raw in
                    vigil_jpeg_decode(
                        raw.bindMemory(to: UInt8.self).baseAddress!, raw.count, numerator, out.baseAddress!,
                        out.count, &info)
                }
            }
            guard status == 0 else { throw ImageError(.corrupt, "corrupt JPEG: \(message(info))") }
            guard info.warnings == 0 else {
                throw ImageError(.corrupt, "damaged JPEG (\(message(info)))")
            }
            return (RGBImage(width: width, height: height, pixels: pixels), header)
        case .png:
            var status: Int32 = 0
            // As for JPEG: a decode that succeeds writes every byte, one that fails keeps none.
            let scratchCount = vigil_png_fast_scratch_size(
                UInt32(header.width), UInt32(header.height), UInt32(header.components))
            let pixels = PixelBuffer(count: header.pixels * 3, pool: pool) { out in
                func decode(into scratch: UnsafeMutableBufferPointer<UInt8>?) {
                    status = data.withUnsafeBytes { raw in
                        vigil_png_decode_scratch(
                            raw.bindMemory(to: UInt8.self).baseAddress!, raw.count, out.baseAddress!, out.count,
                            scratch?.baseAddress, scratch?.count ?? 0, &info)
                    }
                }
                // The inflated rows are a frame's size again: their memory comes from the pool too, and goes
                // back to it as soon as the pixels are out.
                if scratchCount > 0, let pool {
                    _ = PixelBuffer(count: scratchCount, pool: pool) { decode(into: $0) }
                } else {
                    decode(into: nil)
                }
            }
            guard status == 0 else { throw ImageError(.corrupt, "corrupt PNG: \(message(info))") }
            return (RGBImage(width: header.width, height: header.height, pixels: pixels), header)
        }
    }

    /// Decodes to a detector's input: `width`×`height`, bilinear (aspect ratio not kept), three planes of
    /// floats R, G, B in 0–1. A JPEG is decoded at the smallest DCT scale still about that size (see
    /// `decode(_:atLeast:)`), with the same checks. (Resizing rows as libjpeg hands them out, with no whole
    /// decoded image between, was measured slower: 5.5 against 5.1 ms for `bus.jpg`.)
    public static func decodePlanar(
        _ data: Data, width: Int, height: Int, maxPixels: Int = 50_000_000
    ) throws(ImageError) -> (input: [Float], header: ImageHeader) {
        let (image, header) = try decode(data, atLeast: (width, height), maxPixels: maxPixels)
        return (ImageResizer.planarRGB(image, width: width, height: height), header)
    }

    /// The smallest power-of-two DCT scale N/8 (1, 2, 4 or 8) at which a JPEG is still at least `minimum`,
    /// less `scaleTolerance`; 8 (full size) without a minimum.
    /// A PNG is always decoded whole: 8.
    public static func scaleNumerator(_ header: ImageHeader, atLeast minimum: (width: Int, height: Int)?) -> UInt32 {
        guard header.format == .jpeg else { return 8 }
        return powerOfTwoScale(header, atLeast: minimum)
    }

    /// The scale `scaleNumerator` gives a JPEG of `header`'s size, whatever the format: for measuring a PNG on
    /// the grid a JPEG of the same frame is measured on.
    public static func powerOfTwoScale(_ header: ImageHeader, atLeast minimum: (width: Int, height: Int)?) -> UInt32 {
        guard let minimum else { return 8 }
        // Only the power-of-two scales: libjpeg-turbo has SIMD inverse DCTs for those (5/8 measured slower
        // than a full decode here). A scale may land up to `scaleTolerance` short of the minimum: stretching
        // 405 pixels to 416 loses nothing a detector sees, and halves the decoding work.
        let width = Double(minimum.width) * (1 - scaleTolerance)
        let height = Double(minimum.height) * (1 - scaleTolerance)
        return [1, 2, 4].first {
            Double((header.width * $0 + 7) / 8) >= width && Double((header.height * $0 + 7) / 8) >= height
        }.map(UInt32.init) ?? 8
    }

    private static func message(_ info: vigil_image_info) -> String {
        withUnsafeBytes(of: info.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
