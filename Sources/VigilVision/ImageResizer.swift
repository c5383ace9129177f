/// Resizing for a detector's input: bilinear, straight to planar (NCHW) floats scaled 0–1, in one pass.
public enum ImageResizer {
    /// `image` resized to `width`×`height` (a plain resize: the aspect ratio is not kept), as 3 planes of
    /// floats R, G, B in 0–1, written into `output` (3 × width × height values).
    public static func planarRGB(_ image: RGBImage, width: Int, height: Int, into output: inout [Float]) {
        precondition(output.count == 3 * width * height, "the output holds 3 planes of width × height")
        let plane = width * height
        // Per output column, the two source columns (as byte offsets) and the weight of the right one: computed
        // once, not once per row.
        let columns = samplePoints(count: width, source: image.width)
        let rows = samplePoints(count: height, source: image.height)
        let stride = image.width * 3
        let scale: Float = 1 / 255
        image.pixels.withUnsafeBufferPointer { pixels in
            output.withUnsafeMutableBufferPointer { out in
                for y in 0..<height {
                    let (y0, y1, fy) = rows[y]
                    let top = y0 * stride, bottom = y1 * stride
                    let rowOut = y * width
                    for x in 0..<width {
                        let (x0, x1, fx) = columns[x]
                        let a = top + x0 * 3, b = top + x1 * 3, c = bottom + x0 * 3, d = bottom + x1 * 3
                        for channel in 0..<3 {
                            let upper =
                                Float(pixels[a + channel]) + (Float(pixels[b + channel]) - Float(pixels[a + channel]))
                                * fx
                            let lower =
                                Float(pixels[c + channel]) + (Float(pixels[d + channel]) - Float(pixels[c + channel]))
                                * fx
                            out[channel * plane + rowOut + x] = (upper + (lower - upper) * fy) * scale
                        }
                    }
                }
            }
        }
    }

    /// For each of `count` output positions, the two source positions around its centre and the weight of
    /// the second.
    private static func samplePoints(count: Int, source: Int) -> [(Int, Int, Float)] {
        let ratio = Double(source) / Double(count)
        return (0..<count).map { index in
            let position = max(0, (Double(index) + 0.5) * ratio - 0.5)
            let low = min(Int(position), source - 1)
            return (low, min(low + 1, source - 1), Float(position - Double(low)))
        }
    }
}
