internal import COnnxRuntime
import Foundation

/// One loaded model. Create one per worker and keep it (loading takes ~100 ms); `run` may be called from
/// any thread, one call at a time per session for predictable latency.
public final class OnnxSession: @unchecked Sendable {
    public let runtime: OnnxRuntime
    public let inputName: String
    public let outputNames: [String]
    /// The input's shape as the model declares it (-1 for a free dimension).
    public let inputShape: [Int]
    private let session: OpaquePointer
    private let memoryInfo: OpaquePointer
    private var api: OrtApi { runtime.api.pointee }

    /// A tensor: its shape and float values.
    public struct Tensor: Sendable {
        public var shape: [Int]
        public var values: [Float]

        public init(shape: [Int], values: [Float]) {
            self.shape = shape
            self.values = values
        }
    }

    /// `configEntries` are session configuration entries (keys as in ONNX Runtime's
    /// `onnxruntime_session_options_config_keys.h`, e.g. `session.intra_op.allow_spinning`), set in order.
    public init(
        model: URL, intraOpThreads: Int = 1, configEntries: [(key: String, value: String)] = [],
        runtime: OnnxRuntime
    ) throws(DetectorError) {
        self.runtime = runtime
        let api = runtime.api.pointee
        guard FileManager.default.fileExists(atPath: model.path) else {
            throw DetectorError(.modelMissing, "no model file at \(model.path)", value: model.path)
        }
        var options: OpaquePointer?
        try runtime.check(api.CreateSessionOptions(&options), "session options")
        defer { api.ReleaseSessionOptions(options) }
        try runtime.check(api.SetIntraOpNumThreads(options, Int32(max(1, intraOpThreads))), "intra-op threads")
        try runtime.check(api.SetInterOpNumThreads(options, 1), "inter-op threads")
        try runtime.check(api.SetSessionGraphOptimizationLevel(options, ORT_ENABLE_ALL), "optimisation level")
        for entry in configEntries {
            try runtime.check(
                api.AddSessionConfigEntry(options, entry.key, entry.value),
                "the session option \(entry.key)=\(entry.value)", code: .badModel)
        }
        var session: OpaquePointer?
        try runtime.check(
            api.CreateSession(runtime.environment, model.path, options, &session),
            "cannot load the model \(model.lastPathComponent)", code: .badModel)
        var memoryInfo: OpaquePointer?
        do throws(DetectorError) {
            try runtime.check(api.CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &memoryInfo), "memory info")
            var allocator: OpaquePointer?
            try runtime.check(api.GetAllocatorWithDefaultOptions(&allocator), "allocator")
            func name(
                _ get: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> OpaquePointer?
            )
                throws(DetectorError) -> String
            {
                var text: UnsafeMutablePointer<CChar>?
                try runtime.check(get(&text), "model input/output name")
                defer { _ = api.AllocatorFree(allocator, text) }
                return String(cString: text!)
            }
            var inputs = 0
            var outputs = 0
            try runtime.check(api.SessionGetInputCount(session, &inputs), "input count")
            try runtime.check(api.SessionGetOutputCount(session, &outputs), "output count")
            guard inputs == 1, outputs >= 1 else {
                throw DetectorError(
                    .badModel, "the model has \(inputs) inputs and \(outputs) outputs; a detector has 1 input",
                    value: model.path)
            }
            inputName = try name { api.SessionGetInputName(session, 0, allocator, $0) }
            var names: [String] = []
            for index in 0..<outputs {
                names.append(try name { api.SessionGetOutputName(session, index, allocator, $0) })
            }
            outputNames = names
            var typeInfo: OpaquePointer?
            try runtime.check(api.SessionGetInputTypeInfo(session, 0, &typeInfo), "input type")
            defer { api.ReleaseTypeInfo(typeInfo) }
            var tensorInfo: OpaquePointer?
            try runtime.check(api.CastTypeInfoToTensorInfo(typeInfo, &tensorInfo), "input tensor type")
            var count = 0
            try runtime.check(api.GetDimensionsCount(tensorInfo, &count), "input rank")
            var dimensions = [Int64](repeating: 0, count: count)
            try runtime.check(api.GetDimensions(tensorInfo, &dimensions, count), "input shape")
            inputShape = dimensions.map { Int($0) }
        } catch {
            api.ReleaseSession(session)
            if let memoryInfo { api.ReleaseMemoryInfo(memoryInfo) }
            throw error
        }
        self.session = session!
        self.memoryInfo = memoryInfo!
    }

    deinit {
        api.ReleaseSession(session)
        api.ReleaseMemoryInfo(memoryInfo)
    }

    /// Runs the model on one float tensor of `shape`, leaving every output in `tensors`: in the arrays already
    /// there where they have the size (a caller that keeps `tensors` for the next frame writes into memory it
    /// already has; a new array of this size is a mapping of its own, see `FrameMemory`, faulted in page by page).
    public func run(_ input: inout [Float], shape: [Int], into tensors: inout [Tensor]) throws(DetectorError) {
        guard shape.reduce(1, *) == input.count else {
            throw DetectorError(.inference, "\(input.count) values do not fill the shape \(shape)")
        }
        let runtime = self.runtime
        let api = self.api
        var dimensions = shape.map { Int64($0) }
        var value: OpaquePointer?
        let created = input.withUnsafeMutableBytes { bytes in
            api.CreateTensorWithDataAsOrtValue(
                memoryInfo, bytes.baseAddress, bytes.count, &dimensions, dimensions.count,
                ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &value)
        }
        try runtime.check(created, "input tensor")
        defer { api.ReleaseValue(value) }
        var outputs = [OpaquePointer?](repeating: nil, count: outputNames.count)
        let status = input.withUnsafeMutableBytes { _ in
            // The input's bytes must stay put while the run reads them.
            withNames([inputName]) { inputNames in
                withNames(outputNames) { outputNamePointers in
                    var inputValues: [OpaquePointer?] = [value]
                    return api.Run(
                        session, nil, inputNames, &inputValues, 1, outputNamePointers, outputNames.count, &outputs)
                }
            }
        }
        defer { for output in outputs { api.ReleaseValue(output) } }
        try runtime.check(status, "inference")
        if tensors.count > outputs.count { tensors.removeLast(tensors.count - outputs.count) }
        for (index, output) in outputs.enumerated() {
            var info: OpaquePointer?
            try runtime.check(api.GetTensorTypeAndShape(output, &info), "output shape")
            defer { api.ReleaseTensorTypeAndShapeInfo(info) }
            var count = 0
            try runtime.check(api.GetDimensionsCount(info, &count), "output rank")
            var outputDimensions = [Int64](repeating: 0, count: count)
            try runtime.check(api.GetDimensions(info, &outputDimensions, count), "output shape")
            var elements = 0
            try runtime.check(api.GetTensorShapeElementCount(info, &elements), "output size")
            var data: UnsafeMutableRawPointer?
            try runtime.check(api.GetTensorMutableData(output, &data), "output data")
            let floats = UnsafeBufferPointer(
                start: data!.bindMemory(to: Float.self, capacity: elements), count: elements)
            let shape = outputDimensions.map { Int($0) }
            if index < tensors.count, tensors[index].values.count == elements {
                tensors[index].shape = shape
                _ = tensors[index].values.withUnsafeMutableBufferPointer { $0.update(fromContentsOf: floats) }
            } else if index < tensors.count {
                tensors[index] = Tensor(shape: shape, values: Array(floats))
            } else {
                tensors.append(Tensor(shape: shape, values: Array(floats)))
            }
        }
    }
}

/// Calls `body` with the names as a C array of C strings.
private func withNames<T>(_ names: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> T) -> T {
    let copies = names.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    let pointers = copies.map { UnsafePointer<CChar>($0) }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}
