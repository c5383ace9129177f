import Foundation
import Testing
import VigilVision

/// The real detector (YOLOv4-tiny through ONNX Runtime) on the sample photos that `make setup` unpacks.
@Suite("Detector on real photos", .serialized)
struct DetectorTests {
    static let samples = Detector.Configuration.defaultModelFolder().appendingPathComponent("samples")

    static func photo(_ name: String) throws -> Data {
        let url = samples.appendingPathComponent(name)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw DetectorError(.modelMissing, "no sample photo at \(url.path); run `make setup`")
        }
        return data
    }

    @Test func findsThePersonsAndTheBusInBusJPG() throws {
        let detector = try Detector(.defaultModel())
        #expect(detector.labels.count == 80)
        #expect(detector.model.sha256 == "3f3e60e5846676672daf129e1bb537242a36630b6937818340c600f4cadf7d6b")
        let result = try detector.detect(try Self.photo("bus.jpg"))
        #expect(result.width == 810 && result.height == 1080)
        let confident = result.detections.filter { $0.confidence > 0.5 }
        let persons = confident.filter { $0.label == "person" }
        let buses = confident.filter { $0.label == "bus" }
        #expect(persons.count >= 3, "\(result.detections)")
        #expect(buses.count == 1, "\(result.detections)")
        for detection in result.detections {
            #expect(detection.xMin >= 0 && detection.yMin >= 0 && detection.xMax <= 810 && detection.yMax <= 1080)
            #expect(detection.xMin < detection.xMax && detection.yMin < detection.yMax)
        }
        // The bus spans most of the photo's width in its middle band; the persons stand in the lower part.
        let bus = try #require(buses.first)
        #expect(bus.xMax - bus.xMin > 500 && bus.yMin > 100 && bus.yMax < 900)
        #expect(persons.allSatisfy { $0.yMin > 300 && $0.yMax > 800 && $0.yMax - $0.yMin > 350 })
    }

    @Test func findsThePersonInZidaneJPG() throws {
        let detector = try Detector(.defaultModel())
        let result = try detector.detect(try Self.photo("zidane.jpg"))
        #expect(result.width == 1280 && result.height == 720)
        let persons = result.detections.filter { $0.label == "person" && $0.confidence > 0.5 }
        // With a plain resize (no letterbox) the model sees the man on the right clearly; see docs/MODEL.md.
        let person = try #require(persons.first, "\(result.detections)")
        #expect(person.xMin > 600 && person.xMax > 1000 && person.yMax - person.yMin > 500)
    }

    /// A detector keeps its input tensor and output arrays from one frame to the next: nothing of one frame may
    /// reach another's result, whatever the sizes, the order, or a frame that fails in between.
    @Test func framesDetectedOneAfterAnotherGiveWhatAFreshDetectorGives() throws {
        let (bus, zidane) = (try Self.photo("bus.jpg"), try Self.photo("zidane.jpg"))
        let fresh = try [bus, zidane].map { try Detector(.defaultModel()).detect($0).detections }
        #expect(fresh[0] != fresh[1])
        let detector = try Detector(.defaultModel())
        for (index, photo) in [bus, zidane, bus, zidane, bus].enumerated() {
            #expect(try detector.detect(photo).detections == fresh[index % 2], "frame \(index)")
            if index == 2 {
                #expect(throws: DetectorError.self) { try detector.detect(Data("not an image".utf8)) }
            }
        }
        // The public two-step path (the benchmark's raw runtime) gives the same.
        var (input, width, height) = try detector.prepare(zidane)
        #expect(try detector.infer(&input, width: width, height: height) == fresh[1])
    }

    /// `AddSessionConfigEntry` is slot 130 of the runtime's function table, past the slots the first inference
    /// exercises: an entry the runtime acts on (read the file as ORT's own format, not ONNX) must make loading
    /// the ONNX model fail, where the spinning switch the detector sets loads it.
    @Test func sessionConfigEntriesReachTheRuntime() throws {
        let runtime = try OnnxRuntime.load(path: nil)
        let model = Detector.Configuration.defaultModel().model
        let session = try OnnxSession(
            model: model, intraOpThreads: 2, configEntries: [("session.intra_op.allow_spinning", "0")],
            runtime: runtime)
        #expect(session.inputShape == [1, 3, 416, 416])
        let error = #expect(throws: DetectorError.self) {
            try OnnxSession(model: model, configEntries: [("session.load_model_format", "ORT")], runtime: runtime)
        }
        #expect(error?.code == .badModel)
    }

    @Test func aMissingRuntimeOrModelIsAClearError() throws {
        var configuration = Detector.Configuration.defaultModel()
        configuration.model = URL(fileURLWithPath: "/nonexistent/model.onnx")
        let missing = #expect(throws: DetectorError.self) { try Detector(configuration) }
        #expect(missing?.code == .modelMissing)
        #expect(missing?.message.contains("make setup") == true)
        let runtime = #expect(throws: DetectorError.self) {
            try OnnxRuntime.load(path: "/nonexistent/libonnxruntime.so.1")
        }
        #expect(runtime?.code == .runtimeMissing)
        var notAModel = Detector.Configuration.defaultModel()
        notAModel.model = notAModel.labels
        let bad = #expect(throws: DetectorError.self) { try Detector(notAModel) }
        #expect(bad?.code == .badModel)
    }
}
