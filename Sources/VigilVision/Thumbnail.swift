import Foundation

/// Small JPEG previews for people (the dashboard's alert list): decoded at a reduced DCT scale where the
/// format allows, shrunk by averaging each output pixel's box of input pixels, encoded at quality 80.
public enum Thumbnail {
    /// A JPEG that fits in `box` (never larger than the image), in the image's proportions.
    public static func jpeg(
        of data: Data, fitting box: (width: Int, height: Int) = (160, 120), maximumPixels: Int = 50_000_000
    ) throws(ImageError)
        -> Data
    {
        let header = try ImageDecoder.header(data)
        let scale = min(
            1, Double(box.width) / Double(max(1, header.width)), Double(box.height) / Double(max(1, header.height)))
        let targetWidth = max(1, Int((Double(header.width) * scale).rounded()))
        let targetHeight = max(1, Int((Double(header.height) * scale).rounded()))
        let (image, _) = try ImageDecoder.decode(
            data, atLeast: (targetWidth, targetHeight), maxPixels: maximumPixels)
        return try ImageEncoder.jpeg(
            shrink(image, width: targetWidth, height: targetHeight), width: targetWidth, height: targetHeight,
            quality: 80)
    }

    /// Box-filtered RGB at `width` × `height` (no larger than the image).
    static func shrink(_ image: RGBImage, width: Int, height: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: width * height * 3)
        image.pixels.withUnsafeBufferPointer { pixels in
            for y in 0..<height {
                let y0 = y * image.height / height
                let y1 = max(y0 + 1, (y + 1) * image.height / height)
                for x in 0..<width {
                    let x0 = x * image.width / width
                    let x1 = max(x0 + 1, (x + 1) * image.width / width)
                    var sums = (0, 0, 0)
                    for row in y0..<y1 {
                        var index = (row * image.width + x0) * 3
                        for _ in x0..<x1 {
                            sums.0 += Int(pixels[index])
                            sums.1 += Int(pixels[index + 1])
                            sums.2 += Int(pixels[index + 2])
                            index += 3
                        }
                    }
                    let count = (y1 - y0) * (x1 - x0)
                    let target = (y * width + x) * 3
                    out[target] = UInt8(sums.0 / count)
                    out[target + 1] = UInt8(sums.1 / count)
                    out[target + 2] = UInt8(sums.2 / count)
                }
            }
        }
        return out
    }
}
