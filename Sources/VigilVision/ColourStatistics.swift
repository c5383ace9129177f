/// How much colour an image has, in a way JPEG noise and a uniform tint do not fool: the spread of the
/// chroma (Cb, Cr of YCbCr) around its own mean. A greyscale frame has a spread of 0–2 after JPEG
/// compression; a night infrared frame, even tinted purple or green, stays low because the tint is the same
/// everywhere; ordinary colour scenes measure well above 5.
public struct ColourStatistics: Sendable, Hashable, Codable {
    /// The standard deviation of chroma (sqrt(var(Cb) + var(Cr))), 0–~180.
    public var chromaSpread: Double
    /// The mean distance of chroma from neutral grey: a uniform tint shows here, not in the spread.
    public var meanChroma: Double

    public static func measure(_ image: RGBImage) -> ColourStatistics {
        let count = image.width * image.height
        guard count > 0 else { return ColourStatistics(chromaSpread: 0, meanChroma: 0) }
        var sumB = 0.0, sumR = 0.0, sumBB = 0.0, sumRR = 0.0, sumDistance = 0.0
        image.pixels.withUnsafeBufferPointer { pixels in
            var index = 0
            for _ in 0..<count {
                let red = Double(pixels[index]), green = Double(pixels[index + 1]), blue = Double(pixels[index + 2])
                index += 3
                // ITU-R BT.601 chroma, centred on 0.
                let cb = -0.168736 * red - 0.331264 * green + 0.5 * blue
                let cr = 0.5 * red - 0.418688 * green - 0.081312 * blue
                sumB += cb
                sumR += cr
                sumBB += cb * cb
                sumRR += cr * cr
                sumDistance += (cb * cb + cr * cr).squareRoot()
            }
        }
        let n = Double(count)
        let meanB = sumB / n, meanR = sumR / n
        let variance = max(0, sumBB / n - meanB * meanB) + max(0, sumRR / n - meanR * meanR)
        return ColourStatistics(chromaSpread: variance.squareRoot(), meanChroma: sumDistance / n)
    }
}
