/// Resizing for a detector's input: bilinear, straight to planar (NCHW) floats scaled 0–1, in one pass.
public enum ImageResizer {
    /// `image` resized to `width`×`height` (a plain resize: the aspect ratio is not kept), as 3 planes of
    /// floats R, G, B in 0–1, written into `output` (3 × width × height values).
    public static func planarRGB(_ image: RGBImage, width: Int, height: Int, into output: inout [Float]) {
        precondition(output.count == 3 * width * height, "the output holds 3 planes of width × height")
        let plane = width * height
        let scaleX = Double(image.width) / Double(width)
        let scaleY = Double(image.height) / Double(height)
        let maxX = image.width - 1, maxY = image.height - 1
        let stride = image.width * 3
        image.pixels.withUnsafeBufferPointer { pixels in
            output.withUnsafeMutableBufferPointer { out in
                for y in 0..<height {
                    let sourceY = max(0, (Double(y) + 0.5) * scaleY - 0.5)
                    let y0 = min(Int(sourceY), maxY), y1 = min(y0 + 1, maxY)
                    let fy = Float(sourceY - Double(y0))
                    for x in 0..<width {
                        let sourceX = max(0, (Double(x) + 0.5) * scaleX - 0.5)
                        let x0 = min(Int(sourceX), maxX), x1 = min(x0 + 1, maxX)
                        let fx = Float(sourceX - Double(x0))
                        let a = y0 * stride + x0 * 3, b = y0 * stride + x1 * 3
                        let c = y1 * stride + x0 * 3, d = y1 * stride + x1 * 3
                        let target = y * width + x
                        for channel in 0..<3 {
                            let top = Float(pixels[a + channel]) * (1 - fx) + Float(pixels[b + channel]) * fx
                            let bottom = Float(pixels[c + channel]) * (1 - fx) + Float(pixels[d + channel]) * fx
                            out[channel * plane + target] = (top * (1 - fy) + bottom * fy) / 255
                        }
                    }
                }
            }
        }
    }
}
