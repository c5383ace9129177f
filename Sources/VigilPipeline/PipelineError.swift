/// A pipeline failure with a stable code, a sentence saying what was wrong and how to fix it, and where: for a
/// spec, the field path (`input.cross[1].pfs.glob`), so a user can go straight to the line.
public struct PipelineError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Codable {
        case badSpec = "bad-spec"
        case badGlob = "bad-glob"
        case pipelineExists = "pipeline-exists"
        case pipelineNotFound = "pipeline-not-found"
        case jobNotFound = "job-not-found"
        case unknownStage = "unknown-stage"
        case badStageOption = "bad-stage-option"
        case conflict = "conflict"
        case busy = "busy"
        case stageFailed = "stage-failed"
        case timeout = "timeout"
        case io = "io"
        /// A live worker already runs under the name another tried to start with.
        case workerNameTaken = "worker-name-taken"
        /// A worker's name was taken over by another (it had looked dead): it stops.
        case workerReplaced = "worker-replaced"
    }

    public var code: Code
    public var message: String
    /// The spec field at fault, when there is one.
    public var field: String?
    /// The value that was wrong, when there is one.
    public var value: String?

    public init(_ code: Code, _ message: String, field: String? = nil, value: String? = nil) {
        self.code = code
        self.message = message
        self.field = field
        self.value = value
    }

    public var description: String {
        (field.map { "\($0): " } ?? "") + message + " [\(code.rawValue)]"
    }

    static func spec(_ field: String, _ message: String, value: String? = nil) -> PipelineError {
        PipelineError(.badSpec, message, field: field, value: value)
    }

    static func pipelineExists(_ name: String) -> PipelineError {
        PipelineError(
            .pipelineExists, "a pipeline named '\(name)' exists; change it with `vigil pipeline update`", value: name)
    }

    static func changedMeanwhile(_ name: String, version: Int) -> PipelineError {
        PipelineError(
            .conflict, "pipeline '\(name)' was changed meanwhile (version \(version)); try again", value: name)
    }

    static func jobNotFound(_ id: String) -> PipelineError {
        PipelineError(.jobNotFound, "no job \(id) (was its pipeline deleted?)", value: id)
    }

    /// A job's record written after it ended: by an engine that took longer than its heartbeat allows and whose
    /// job another engine finished meanwhile. The first ending stands.
    static func jobEnded(_ id: String) -> PipelineError {
        PipelineError(
            .conflict, "job \(id) has already ended (another engine finished it); its record is kept as it is",
            value: id)
    }

    static func pipelineNotFound(_ name: String) -> PipelineError {
        PipelineError(
            .pipelineNotFound, "no pipeline named '\(name)'; `vigil pipeline list` shows them", value: name)
    }
}
