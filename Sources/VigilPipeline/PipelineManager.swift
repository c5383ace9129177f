import Foundation
import VigilStore

/// Creating, changing and removing pipelines. A pipeline's output repo has the pipeline's name and is created
/// with it; its inputs must exist, its stage must be known, and it may not feed itself, directly or through
/// other pipelines.
public struct PipelineManager: Sendable {
    public let environment: EngineEnvironment

    public init(environment: EngineEnvironment) {
        self.environment = environment
    }

    private var store: VersionedStore { environment.store }

    @discardableResult
    public func create(_ spec: PipelineSpec, source: String) async throws -> PipelineRecord {
        try await check(spec)
        if try await environment.jobs.pipeline(named: spec.name) != nil {
            throw PipelineError(
                .pipelineExists, "a pipeline named '\(spec.name)' exists; change it with `vigil pipeline update`",
                value: spec.name)
        }
        if try await store.metadata.repo(named: spec.name) == nil {
            try await store.createRepo(spec.name, description: "output of pipeline \(spec.name)")
        } else if let head = try await store.resolveCommit(spec.name, ref: nil), head.tree.files > 0 {
            throw PipelineError(
                .pipelineExists,
                "repo '\(spec.name)' already holds data; a pipeline writes its own repo: pick another name",
                value: spec.name)
        }
        let now = environment.clock()
        let record = PipelineRecord(
            spec: spec, source: source, version: 1, created: now, updated: now, runRequested: false)
        try await environment.jobs.putPipeline(record, expectedVersion: nil)
        environment.logger.info("pipeline created", metadata: ["pipeline": "\(spec.name)"])
        return record
    }

    /// Replaces a pipeline's spec. A changed spec hash makes the next job recompute the output from scratch;
    /// a change of only workers, tries or time-out reprocesses nothing. `reprocess` asks for a full job anyway.
    @discardableResult
    public func update(_ spec: PipelineSpec, source: String, reprocess: Bool = false) async throws -> PipelineRecord {
        guard var record = try await environment.jobs.pipeline(named: spec.name) else {
            throw PipelineError.pipelineNotFound(spec.name)
        }
        try await check(spec)
        let version = record.version
        record.spec = spec
        record.source = source
        record.version += 1
        record.updated = environment.clock()
        record.runRequested = record.runRequested || reprocess
        try await environment.jobs.putPipeline(record, expectedVersion: version)
        environment.logger.info("pipeline updated", metadata: ["pipeline": "\(spec.name)"])
        return record
    }

    /// Deletes a pipeline, its jobs and records and, unless `keepOutput`, its output repo (as Pachyderm does).
    public func delete(_ name: String, keepOutput: Bool = false) async throws {
        for other in try await environment.jobs.pipelines() where other.name != name {
            if other.spec.input.leaves.contains(where: { $0.repo == name }) {
                throw PipelineError(
                    .conflict,
                    "pipeline '\(other.name)' reads '\(name)'; delete or change '\(other.name)' first", value: name)
            }
        }
        try await environment.jobs.deletePipeline(named: name)
        if !keepOutput, try await store.metadata.repo(named: name) != nil { try await store.deleteRepo(name) }
    }

    /// Asks for a full job: every datum listed, failed ones retried; with `recompute`, every datum run again
    /// from an empty output (e.g. to re-judge history with new rules). A running engine takes it up at once.
    public func requestRun(_ name: String, recompute: Bool = false) async throws {
        _ = try await environment.jobs.setRunRequested(true, recompute: recompute, pipeline: name)
    }

    public func pipelines() async throws -> [PipelineRecord] {
        try await environment.jobs.pipelines()
    }

    public func pipeline(_ name: String) async throws -> PipelineRecord {
        guard let record = try await environment.jobs.pipeline(named: name) else {
            throw PipelineError.pipelineNotFound(name)
        }
        return record
    }

    private func check(_ spec: PipelineSpec) async throws {
        if let stage = spec.transform.stage, !environment.stages.names.contains(stage) {
            throw PipelineError(
                .unknownStage,
                "no built-in stage '\(stage)'; there are: \(environment.stages.names.joined(separator: ", "))",
                field: "transform.stage", value: stage)
        }
        let pipelines = try await environment.jobs.pipelines()
        for leaf in spec.input.leaves {
            guard try await store.metadata.repo(named: leaf.repo) != nil else {
                throw PipelineError(
                    .badSpec,
                    "input repo '\(leaf.repo)' does not exist; create it (`vigil repo create \(leaf.repo)`) or the "
                        + "pipeline that writes it first", field: "input", value: leaf.repo)
            }
            if try await reaches(leaf.repo, spec.name, pipelines: pipelines) {
                throw PipelineError(
                    .badSpec, "reading '\(leaf.repo)' makes pipeline '\(spec.name)' feed itself", field: "input",
                    value: leaf.repo)
            }
        }
    }

    /// Whether repo `from` is `target` or is computed, through pipelines, from `target`'s output.
    private func reaches(_ from: String, _ target: String, pipelines: [PipelineRecord]) async throws -> Bool {
        var queue = [from]
        var seen = Set<String>()
        while let repo = queue.popLast() {
            if repo == target { return true }
            guard seen.insert(repo).inserted,
                let producer = pipelines.first(where: { $0.name == repo && $0.name != target })
            else { continue }
            queue += producer.spec.input.leaves.map(\.repo)
        }
        return false
    }
}
