import Foundation
import Logging
import VigilStore

/// A built-in pipeline stage: one datum in, files out. The engine makes one instance per worker and keeps it
/// across jobs (so a detector loads its model once per worker, not per image), and calls `process` for one
/// datum at a time on each instance.
public protocol Stage: Sendable {
    /// What, beyond the spec, determines the outputs (a model's hash, a rules version), for provenance;
    /// nil when the spec says it all.
    var identity: String? { get }

    /// Whether a job of this stage may run inside the job that made its input, before that job's commit is
    /// published, the two commits then published in one transaction (`PipelineEngine.handOff`): for stages
    /// that take little time per datum (a rule book's lookup), not for one whose datums would hold the upstream
    /// commit back (a detector, an external command).
    var joinsUpstreamCommit: Bool { get }

    /// Whether `process` ends soon after its task is cancelled (an external command, which is then killed; a
    /// sleep). The engine ends such a datum at its `datumTimeout` by cancelling it, which takes a timer task
    /// beside each datum. A stage that runs to its end regardless (in-process work whose store reads have
    /// time-outs of their own) says false: its datum is timed once it returns, and fails the same way, with no
    /// timer task and no hop between tasks on the datum's way.
    var endsWhenCancelled: Bool { get }

    /// Reads the datum's inputs through `datum` and writes its outputs there. Throwing fails this attempt;
    /// the engine retries up to the pipeline's `datumTries`.
    func process(_ datum: DatumContext) async throws
}

extension Stage {
    public var identity: String? { nil }
    public var joinsUpstreamCommit: Bool { false }
    public var endsWhenCancelled: Bool { true }
}

/// What a stage is made from: the pipeline's name, the spec's stage options and the engine's services.
public struct StageConfiguration: Sendable {
    public var pipeline: String
    public var options: [String: String]
    public var store: VersionedStore
    public var logger: Logger

    public init(pipeline: String, options: [String: String], store: VersionedStore, logger: Logger) {
        self.pipeline = pipeline
        self.options = options
        self.store = store
        self.logger = logger
    }

    /// A required option, or a `bad-stage-option` error naming it.
    public func option(_ name: String) throws -> String {
        guard let value = options[name] else {
            throw PipelineError(
                .badStageOption, "pipeline '\(pipeline)': the stage needs the option `\(name)`",
                field: "transform.options")
        }
        return value
    }

    /// An optional option parsed by `parse`, or `fallback`; a value `parse` rejects is a `bad-stage-option`.
    public func option<T>(_ name: String, default fallback: T, _ parse: (String) -> T?) throws -> T {
        guard let text = options[name] else { return fallback }
        guard let value = parse(text) else {
            throw PipelineError(
                .badStageOption, "pipeline '\(pipeline)': option `\(name)` cannot be '\(text)'",
                field: "transform.options.\(name)", value: text)
        }
        return value
    }

    /// Fails on options the stage does not know, so a misspelt one is not silently ignored.
    public func allowOnly(_ names: Set<String>) throws {
        for name in options.keys.sorted() where !names.contains(name) {
            let known = names.isEmpty ? "it takes none" : "known: " + names.sorted().joined(separator: ", ")
            throw PipelineError(
                .badStageOption, "pipeline '\(pipeline)': the stage has no option `\(name)`; \(known)",
                field: "transform.options.\(name)", value: name)
        }
    }
}
