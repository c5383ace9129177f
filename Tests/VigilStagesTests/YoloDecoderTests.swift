import Foundation
import Testing
import VigilVision

@Suite("YOLO decoding")
struct YoloDecoderTests {
    /// One head, one anchor, one label, a 2×2 grid: a tensor with one confident box in cell (x, y).
    func tensor(cell: (Int, Int), values: (Float, Float, Float, Float)) -> OnnxSession.Tensor {
        let grid = 2, cells = grid * grid
        var data = [Float](repeating: -20, count: 6 * cells)
        let index = cell.1 * grid + cell.0
        (data[index], data[cells + index], data[2 * cells + index], data[3 * cells + index]) = values
        data[4 * cells + index] = 10  // objectness
        data[5 * cells + index] = 10  // the label
        return OnnxSession.Tensor(shape: [1, 6, grid, grid], values: data)
    }

    let decoder = YoloDecoder(
        inputSize: 64, anchors: [(32, 32)], masks: [[0]], scaleXY: 1.05, scoreThreshold: 0.25, nmsThreshold: 0.45)

    @Test func boxesStayInsideTheImageAtEveryEdge() throws {
        for (cell, values) in [
            ((1, 1), (Float(20), Float(20), Float(-3), Float(-3))),  // a tiny box pushed past the bottom-right corner
            ((0, 0), (Float(-20), Float(-20), Float(-3), Float(-3))),  // and past the top-left one
            ((0, 1), (Float(0), Float(0), Float(3), Float(3))),  // a box larger than the image
        ] {
            let detections = try decoder.decode(
                [tensor(cell: cell, values: values)], labels: ["thing"], width: 640, height: 480)
            for detection in detections {
                #expect(0 <= detection.xMin && detection.xMin < detection.xMax && detection.xMax <= 640, "\(detection)")
                #expect(0 <= detection.yMin && detection.yMin < detection.yMax && detection.yMax <= 480, "\(detection)")
            }
        }
        let centred = try decoder.decode(
            [tensor(cell: (0, 0), values: (0, 0, 0, 0))], labels: ["thing"], width: 640, height: 480)
        // Centre (sigmoid(0) × 1.05 − 0.025) / 2 cells = 0.25 of the image; size = anchor 32 / input 64 = 0.5:
        // 0 to 0.5 of 640 × 480. Confidence sigmoid(10)² = 0.9999.
        #expect(centred == [Detection(label: "thing", confidence: 0.9999, xMin: 0, yMin: 0, xMax: 320, yMax: 240)])
    }

    @Test func aNonFiniteOutputIsDroppedNotACrash() throws {
        let detections = try decoder.decode(
            [tensor(cell: (0, 0), values: (.nan, 0, 0, 0))], labels: ["thing"], width: 640, height: 480)
        #expect(detections.isEmpty)
        let wrongShape = OnnxSession.Tensor(shape: [1, 7, 2, 2], values: [Float](repeating: 0, count: 28))
        #expect(throws: DetectorError.self) {
            try decoder.decode([wrongShape], labels: ["thing"], width: 640, height: 480)
        }
    }
}
