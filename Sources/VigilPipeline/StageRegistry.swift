/// The built-in stages by name: what a spec's `transform.stage` can say. The engine starts with `noop` and
/// `copy`; other targets (the vision and alert stages) register theirs.
public struct StageRegistry: Sendable {
    public typealias Factory = @Sendable (StageConfiguration) async throws -> any Stage

    private var factories: [String: Factory] = [:]

    public init() {}

    /// The engine's own stages: `noop` (writes nothing: measures the engine) and `copy` (passes every input
    /// file through to the same path, storing no bytes). Both take `delayMilliseconds`: each datum first waits
    /// that long, without using a core (a stand-in for I/O or a remote model, for measuring how workers scale).
    public static let builtIn: StageRegistry = {
        var registry = StageRegistry()
        registry.register("noop") { configuration in
            try configuration.allowOnly(["delayMilliseconds"])
            return NoOpStage(delay: try delay(configuration))
        }
        registry.register("copy") { configuration in
            try configuration.allowOnly(["delayMilliseconds"])
            return CopyStage(delay: try delay(configuration))
        }
        return registry
    }()

    private static func delay(_ configuration: StageConfiguration) throws -> Duration {
        .milliseconds(
            try configuration.option("delayMilliseconds", default: 0) {
                Int($0).flatMap { (0...600_000).contains($0) ? $0 : nil }
            })
    }

    public mutating func register(_ name: String, _ factory: @escaping Factory) {
        factories[name] = factory
    }

    public var names: [String] { factories.keys.sorted() }

    func make(_ name: String, _ configuration: StageConfiguration) async throws -> any Stage {
        guard let factory = factories[name] else {
            throw PipelineError(
                .unknownStage,
                "pipeline '\(configuration.pipeline)': no built-in stage '\(name)'; there are: "
                    + names.joined(separator: ", "), field: "transform.stage", value: name)
        }
        return try await factory(configuration)
    }
}

/// Does nothing (after its delay): a datum costs only what the engine spends on it.
struct NoOpStage: Stage {
    var delay: Duration = .zero
    /// Only its delay, a sleep, ends when cancelled.
    var endsWhenCancelled: Bool { delay > .zero }

    func process(_ datum: DatumContext) async throws {
        if delay > .zero { try await Task.sleep(for: delay) }
    }
}

/// Every input file goes to the output at its own path, at no byte cost (after its delay).
struct CopyStage: Stage {
    var delay: Duration = .zero
    /// Only its delay, a sleep, ends when cancelled.
    var endsWhenCancelled: Bool { delay > .zero }

    func process(_ datum: DatumContext) async throws {
        if delay > .zero { try await Task.sleep(for: delay) }
        for input in datum.datum.inputs {
            for file in try await datum.files(of: input) { try datum.link(file.path, to: file.entry.value) }
        }
    }
}
