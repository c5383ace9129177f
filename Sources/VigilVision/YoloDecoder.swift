import Foundation

/// One object found: the shape DeepStack and CodeProject.AI users know (label, confidence, box in pixels).
public struct Detection: Sendable, Hashable, Codable {
    public var label: String
    public var confidence: Double
    public var xMin: Int
    public var yMin: Int
    public var xMax: Int
    public var yMax: Int

    public init(label: String, confidence: Double, xMin: Int, yMin: Int, xMax: Int, yMax: Int) {
        self.label = label
        self.confidence = confidence
        self.xMin = xMin
        self.yMin = yMin
        self.xMax = xMax
        self.yMax = yMax
    }
}

/// Turns YOLO (Darknet v3/v4) head outputs into detections: per cell and anchor, box from sigmoid offsets
/// (stretched by `scaleXY`) and exponential sizes, score = objectness × class probability, then greedy
/// non-maximum suppression per class.
public struct YoloDecoder: Sendable {
    public var inputSize: Int
    /// Anchor sizes in input pixels, (width, height).
    public var anchors: [(Float, Float)]
    /// For each head, smallest grid first, the anchors it uses.
    public var masks: [[Int]]
    public var scaleXY: Float
    public var scoreThreshold: Float
    public var nmsThreshold: Float

    /// YOLOv4-tiny, COCO: two heads (13×13 with anchors 3,4,5; 26×26 with 1,2,3), scale_x_y 1.05.
    public static let yolov4Tiny = YoloDecoder(
        inputSize: 416, anchors: [(10, 14), (23, 27), (37, 58), (81, 82), (135, 169), (344, 319)],
        masks: [[3, 4, 5], [1, 2, 3]], scaleXY: 1.05, scoreThreshold: 0.25, nmsThreshold: 0.45)

    public init(
        inputSize: Int, anchors: [(Float, Float)], masks: [[Int]], scaleXY: Float, scoreThreshold: Float,
        nmsThreshold: Float
    ) {
        self.inputSize = inputSize
        self.anchors = anchors
        self.masks = masks
        self.scaleXY = scaleXY
        self.scoreThreshold = scoreThreshold
        self.nmsThreshold = nmsThreshold
    }

    /// Detections in the pixels of an image of `width`×`height`, highest confidence first.
    public func decode(
        _ outputs: [OnnxSession.Tensor], labels: [String], width: Int, height: Int
    ) throws(DetectorError) -> [Detection] {
        let heads = outputs.sorted { $0.shape.last ?? 0 < $1.shape.last ?? 0 }
        guard heads.count == masks.count else {
            throw DetectorError(.badModel, "the model has \(heads.count) outputs; this decoder expects \(masks.count)")
        }
        let classes = labels.count
        var candidates: [(label: Int, score: Float, box: (Float, Float, Float, Float))] = []
        for (head, mask) in zip(heads, masks) {
            guard head.shape.count == 4, head.shape[1] == mask.count * (5 + classes), head.shape[2] == head.shape[3]
            else {
                throw DetectorError(
                    .badModel,
                    "output shape \(head.shape) does not fit \(mask.count) anchors × (5 + \(classes) labels)")
            }
            let grid = head.shape[2]
            let cells = grid * grid
            head.values.withUnsafeBufferPointer { values in
                for (slot, anchor) in mask.enumerated() {
                    let base = slot * (5 + classes) * cells
                    for cell in 0..<cells {
                        let objectness = sigmoid(values[base + 4 * cells + cell])
                        if objectness < scoreThreshold { continue }
                        let x = Float(cell % grid), y = Float(cell / grid)
                        let centreX = (sigmoid(values[base + cell]) * scaleXY - (scaleXY - 1) / 2 + x) / Float(grid)
                        let centreY =
                            (sigmoid(values[base + cells + cell]) * scaleXY - (scaleXY - 1) / 2 + y) / Float(grid)
                        let boxWidth = exp(values[base + 2 * cells + cell]) * anchors[anchor].0 / Float(inputSize)
                        let boxHeight = exp(values[base + 3 * cells + cell]) * anchors[anchor].1 / Float(inputSize)
                        // Clamped on both edges: scale_x_y lets a centre stray just outside the image.
                        let box = (
                            clamp(centreX - boxWidth / 2), clamp(centreY - boxHeight / 2),
                            clamp(centreX + boxWidth / 2), clamp(centreY + boxHeight / 2)
                        )
                        guard box.0.isFinite, box.1.isFinite, box.2.isFinite, box.3.isFinite,
                            box.0 < box.2, box.1 < box.3
                        else { continue }
                        for label in 0..<classes {
                            let score = objectness * sigmoid(values[base + (5 + label) * cells + cell])
                            if score >= scoreThreshold { candidates.append((label, score, box)) }
                        }
                    }
                }
            }
        }
        candidates.sort { $0.score > $1.score }
        var kept: [(label: Int, score: Float, box: (Float, Float, Float, Float))] = []
        for candidate in candidates
        where !kept.contains(where: {
            $0.label == candidate.label && Self.overlap($0.box, candidate.box) > nmsThreshold
        }) {
            kept.append(candidate)
        }
        let scaleX = Float(width), scaleY = Float(height)
        return kept.map { item in
            Detection(
                label: labels[item.label], confidence: (Double(item.score) * 10_000).rounded() / 10_000,
                xMin: Int((item.box.0 * scaleX).rounded()), yMin: Int((item.box.1 * scaleY).rounded()),
                xMax: Int((item.box.2 * scaleX).rounded()), yMax: Int((item.box.3 * scaleY).rounded()))
        }
    }

    /// Intersection over union of two boxes (x0, y0, x1, y1).
    static func overlap(_ a: (Float, Float, Float, Float), _ b: (Float, Float, Float, Float)) -> Float {
        let width = max(0, min(a.2, b.2) - max(a.0, b.0))
        let height = max(0, min(a.3, b.3) - max(a.1, b.1))
        let intersection = width * height
        let union = (a.2 - a.0) * (a.3 - a.1) + (b.2 - b.0) * (b.3 - b.1) - intersection
        return union > 0 ? intersection / union : 0
    }
}

@inline(__always) private func sigmoid(_ value: Float) -> Float { 1 / (1 + exp(-value)) }

/// Into 0...1; NaN stays NaN (and the box is dropped).
@inline(__always) private func clamp(_ value: Float) -> Float { value.isNaN ? value : min(1, max(0, value)) }
