import Foundation
import VigilStore
import Yams

/// Reads a pipeline spec from YAML or JSON (JSON is read as YAML, which it is): Vigil's own form, or Pachyderm's
/// exactly as `pachctl create pipeline -f` takes it (`pipeline.name`, `parallelismSpec`, snake_case or camelCase
/// keys). Checks every field by hand rather than through `Decodable`, so that a misspelt field is an error
/// instead of a silent default, and every error names the field path and what is allowed there. Pachyderm's
/// fields that have no effect here are kept and named in one warning (`PachydermFields`).
public enum PipelineSpecParser {
    static let topLevelKeys = [
        "name", "pipeline", "description", "input", "transform", "parallelism", "parallelismSpec", "datumTries",
        "datumTimeout", "resourceLimits", "resourceRequests", "autoscaling", "salt", "outputBranch",
    ]

    /// A spec and the fields it gave that have no effect here.
    public struct Result: Sendable {
        public var spec: PipelineSpec
        /// `field (why)` for each field kept without effect, in the order met.
        public var unapplied: [String]

        /// The one line a command prints about them; nil when there are none.
        public var warning: String? {
            unapplied.isEmpty
                ? nil
                : "warning: kept but not applied here: " + unapplied.joined(separator: ", ")
                    + " (docs/DEPLOY.md, \"Pachyderm specs\")"
        }
    }

    public static func parse(_ text: String) throws -> PipelineSpec {
        try read(text).spec
    }

    /// Reads a spec, with the fields it gave that have no effect here.
    public static func read(_ text: String) throws -> Result {
        let document: Any?
        do {
            document = try Yams.load(yaml: text)
        } catch {
            throw PipelineError.spec("spec", "is not valid YAML or JSON: \(error)")
        }
        var notes: [String] = []
        let root = try object(document, at: "spec", allowed: topLevelKeys, section: .spec, notes: &notes)
        let name = try pipelineName(root)
        let input = try parseInput(root["input"], at: "input", notes: &notes)
        var names = Set<String>()
        for leaf in input.leaves where !names.insert(leaf.name).inserted {
            throw PipelineError.spec(
                "input", "two inputs are named '\(leaf.name)'; give each a distinct `name`", value: leaf.name)
        }
        if let branch = root["outputBranch"] {
            guard try string(branch, at: "outputBranch") == "master" else {
                throw PipelineError.spec(
                    "outputBranch", "a pipeline writes the master branch of its repo here; leave it out",
                    value: "\(branch)")
            }
        }
        let spec = PipelineSpec(
            name: name,
            description: try root["description"].map { try string($0, at: "description") } ?? "",
            input: input,
            transform: try parseTransform(root["transform"], at: "transform", notes: &notes),
            parallelism: try parallelism(root),
            datumTries: try root["datumTries"].map { try integer($0, at: "datumTries", in: 1...100) } ?? 3,
            datumTimeout: try root["datumTimeout"].map { try duration($0, at: "datumTimeout") },
            resourceLimits: try root["resourceLimits"].map {
                try parseResources($0, at: "resourceLimits", minimumMemory: 16 << 20, notes: &notes)
            },
            resourceRequests: try root["resourceRequests"].map {
                var ignored: [String] = []
                return try parseResources($0, at: "resourceRequests", minimumMemory: 1, notes: &ignored)
            },
            autoscaling: try root["autoscaling"].map { try flag($0, at: "autoscaling") },
            salt: try root["salt"].map { try string($0, at: "salt") })
        return Result(spec: spec, unapplied: notes)
    }

    /// Reads a spec file, naming the file in errors.
    public static func parse(contentsOf file: URL) throws -> PipelineSpec {
        try read(contentsOf: file).spec
    }

    /// Reads a spec file, naming the file in errors, with the fields it gave that have no effect here.
    public static func read(contentsOf file: URL) throws -> Result {
        let text: String
        do {
            text = try String(contentsOf: file, encoding: .utf8)
        } catch {
            throw PipelineError.spec("spec", "cannot read '\(file.path)': \(error.localizedDescription)")
        }
        do {
            return try read(text)
        } catch var error as PipelineError {
            error.message += " (in \(file.lastPathComponent))"
            throw error
        }
    }

    // MARK: Sections

    /// Vigil's `name`, or Pachyderm's `pipeline: {name, project}` (the default project only: Vigil has none).
    private static func pipelineName(_ root: [String: Any]) throws -> String {
        let name: String
        switch (root["name"], root["pipeline"]) {
        case (.some, .some):
            throw PipelineError.spec("pipeline", "give the name once: `name` or `pipeline.name`, not both")
        case (let flat?, nil):
            name = try string(flat, at: "name")
        case (nil, let pipeline?):
            var notes: [String] = []
            let body = try object(pipeline, at: "pipeline", allowed: ["name", "project"], notes: &notes)
            try defaultProject(body["project"], at: "pipeline.project")
            name = try string(body["name"], at: "pipeline.name")
        case (nil, nil):
            throw PipelineError.spec("name", "is required (or Pachyderm's `pipeline: {name: …}`)")
        }
        do {
            try Names.validateRepo(name)
        } catch {
            throw PipelineError.spec(
                root["name"] == nil ? "pipeline.name" : "name",
                "'\(name)' cannot name a pipeline (it also names the output repo): use 1-63 letters, "
                    + "digits, '_' or '-', starting with a letter or digit", value: name)
        }
        return name
    }

    /// Pachyderm's projects: only its `default` one (by name or as `{name: default}`) means something here.
    private static func defaultProject(_ value: Any?, at field: String) throws {
        guard let value else { return }
        var notes: [String] = []
        let name =
            if value is String {
                try string(value, at: field)
            } else {
                try string(
                    try object(value, at: field, allowed: ["name"], notes: &notes)["name"], at: field + ".name")
            }
        guard name == "default" else {
            throw PipelineError.spec(
                field, "Vigil has no projects besides Pachyderm's `default`; leave it out", value: name)
        }
    }

    /// Vigil's `parallelism`, or Pachyderm's `parallelismSpec: {constant: N}` (0 meaning one worker, as there).
    private static func parallelism(_ root: [String: Any]) throws -> Int {
        switch (root["parallelism"], root["parallelismSpec"]) {
        case (.some, .some):
            throw PipelineError.spec(
                "parallelismSpec", "give the workers once: `parallelism` or `parallelismSpec.constant`, not both")
        case (let flat?, nil):
            return try integer(flat, at: "parallelism", in: 1...256)
        case (nil, let spec?):
            var notes: [String] = []
            let body = try object(spec, at: "parallelismSpec", allowed: ["constant"], notes: &notes)
            guard let constant = body["constant"] else { return 1 }
            return max(1, try integer(constant, at: "parallelismSpec.constant", in: 0...256))
        case (nil, nil):
            return 1
        }
    }

    private static func parseSecrets(_ value: Any, at field: String) throws -> [SecretVariable] {
        guard let list = value as? [Any] else {
            throw PipelineError.spec(field, "must be a list of {envVar: NAME} (optionally with `key` and `name`)")
        }
        return try list.enumerated().map { index, item in
            let at = "\(field)[\(index)]"
            var notes: [String] = []
            let body = try object(item, at: at, allowed: ["name", "key", "envVar", "mountPath"], notes: &notes)
            if body["mountPath"] != nil {
                throw PipelineError.spec(
                    at + ".mountPath", "secrets mounted as files need Kubernetes; give `envVar` to pass a variable")
            }
            let secret = SecretVariable(
                name: try body["name"].map { try string($0, at: at + ".name") },
                key: try body["key"].map { try string($0, at: at + ".key") },
                envVar: try string(body["envVar"], at: at + ".envVar"))
            for (part, text) in [("envVar", secret.envVar), ("key", secret.source)]
            where text.range(of: "^[A-Za-z_][A-Za-z0-9_]{0,127}$", options: .regularExpression) == nil {
                throw PipelineError.spec(at + "." + part, "'\(text)' is not an environment variable name", value: text)
            }
            return secret
        }
    }

    /// Pachyderm's `ResourceSpec`: `memory` and `disk` as Kubernetes sizes, `cpu` a number, `gpu` {type, number}.
    private static func parseResources(
        _ value: Any, at field: String, minimumMemory: Int64, notes: inout [String]
    ) throws -> ResourceLimits {
        let body = try object(
            value, at: field, allowed: ["memory", "disk", "cpu", "gpu"], section: .resources, notes: &notes)
        var limits = ResourceLimits()
        limits.memory = try body["memory"].map { try bytes($0, at: field + ".memory", minimum: minimumMemory) }
        limits.disk = try body["disk"].map { try bytes($0, at: field + ".disk", minimum: 1) }
        if let cpu = body["cpu"] {
            guard let number = (cpu as? Double) ?? (cpu as? Int).map(Double.init), number > 0 else {
                throw PipelineError.spec(field + ".cpu", "must be a number of CPUs above 0", value: "\(cpu)")
            }
            limits.cpu = number
        }
        if let gpu = body["gpu"] {
            var ignored: [String] = []
            let spec = try object(gpu, at: field + ".gpu", allowed: ["type", "number"], notes: &ignored)
            limits.gpu = GPURequest(
                type: try string(spec["type"], at: field + ".gpu.type"),
                number: try integer(spec["number"] ?? 1, at: field + ".gpu.number", in: 1...64))
        }
        return limits
    }

    /// A size as Kubernetes writes it: `512Mi`, `2G`, `1.5Gi`, `1048576`.
    static func bytes(_ value: Any, at field: String, minimum: Int64) throws -> Int64 {
        let text = "\(value)".trimmingCharacters(in: .whitespaces)
        let units: [(String, Double)] = [
            ("Ki", 0x400), ("Mi", 0x10_0000), ("Gi", 0x4000_0000), ("Ti", 0x100_0000_0000), ("K", 1e3), ("k", 1e3),
            ("M", 1e6),
            ("G", 1e9), ("T", 1e12), ("", 1),
        ]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            guard let number = Double(text.dropLast(suffix.count)), number.isFinite, number >= 0 else { break }
            let size = number * factor
            guard size >= Double(minimum), size < 9e18 else {
                throw PipelineError.spec(field, "'\(text)' is out of range (at least \(minimum) bytes)", value: text)
            }
            return Int64(size)
        }
        throw PipelineError.spec(
            field, "'\(text)' is not a size; write bytes with an optional unit: 512Mi, 2Gi, 500M", value: text)
    }

    private static func parseInput(_ value: Any?, at field: String, notes: inout [String]) throws -> PipelineInput {
        let input = try object(value, at: field, allowed: ["pfs", "cross", "union"], section: .input, notes: &notes)
        guard input.count == 1, let (kind, body) = input.first else {
            throw PipelineError.spec(field, "give exactly one of `pfs`, `cross` or `union`")
        }
        switch kind {
        case "pfs":
            return .pfs(try parsePFS(body, at: field + ".pfs", notes: &notes))
        default:
            guard let list = body as? [Any] else {
                throw PipelineError.spec(field + "." + kind, "must be a list of inputs")
            }
            guard list.count >= 2 else {
                throw PipelineError.spec(field + "." + kind, "needs at least two inputs to combine")
            }
            var inputs: [PipelineInput] = []
            for (index, item) in list.enumerated() {
                inputs.append(try parseInput(item, at: "\(field).\(kind)[\(index)]", notes: &notes))
            }
            return kind == "cross" ? .cross(inputs) : .union(inputs)
        }
    }

    private static func parsePFS(_ value: Any?, at field: String, notes: inout [String]) throws -> PFSInput {
        let pfs = try object(
            value, at: field, allowed: ["repo", "branch", "glob", "name", "reprocess", "project", "repoType"],
            section: .pfs, notes: &notes)
        try defaultProject(pfs["project"], at: field + ".project")
        if let type = pfs["repoType"], try string(type, at: field + ".repoType") != "user" {
            throw PipelineError.spec(
                field + ".repoType", "only `user` repos are inputs here; leave it out", value: "\(type)")
        }
        let repo = try string(pfs["repo"], at: field + ".repo")
        try check(field + ".repo", repo) { try Names.validateRepo($0) }
        let branch = try pfs["branch"].map { try string($0, at: field + ".branch") } ?? "master"
        try check(field + ".branch", branch) { try Names.validateBranch($0) }
        let glob = try string(pfs["glob"], at: field + ".glob")
        do {
            _ = try Glob(glob)
        } catch let error as PipelineError {
            throw PipelineError.spec(field + ".glob", error.message, value: glob)
        }
        let name = try pfs["name"].map { try string($0, at: field + ".name") } ?? repo
        guard name.range(of: "^[A-Za-z0-9][A-Za-z0-9_]{0,62}$", options: .regularExpression) != nil else {
            throw PipelineError.spec(
                field + ".name",
                "'\(name)' cannot name an input: use letters, digits and '_' (it becomes /pfs/NAME "
                    + "and an environment variable)", value: name)
        }
        let reprocess = try pfs["reprocess"].map { try flag($0, at: field + ".reprocess") } ?? true
        return PFSInput(repo: repo, branch: branch, glob: glob, name: name, reprocess: reprocess)
    }

    private static func parseTransform(_ value: Any?, at field: String, notes: inout [String]) throws -> Transform {
        let body = try object(
            value, at: field,
            allowed: ["stage", "options", "cmd", "env", "stdin", "secrets", "user", "image", "acceptReturnCode"],
            section: .transform, notes: &notes)
        var transform = Transform()
        transform.image = try body["image"].map { try string($0, at: field + ".image") }
        if let codes = body["acceptReturnCode"] {
            guard let list = codes as? [Any] else {
                throw PipelineError.spec(field + ".acceptReturnCode", "must be a list of exit codes (1 to 255)")
            }
            transform.acceptReturnCode = try list.enumerated().map {
                try integer($1, at: "\(field).acceptReturnCode[\($0)]", in: 1...255)
            }
        }
        transform.stage = try body["stage"].map { try string($0, at: field + ".stage") }
        if let options = body["options"] {
            transform.options = try stringMap(options, at: field + ".options")
        }
        if let cmd = body["cmd"] {
            transform.cmd = try stringList(cmd, at: field + ".cmd")
        }
        if let env = body["env"] {
            transform.env = try stringMap(env, at: field + ".env")
        }
        if let stdin = body["stdin"] {
            transform.stdin = try stringList(stdin, at: field + ".stdin")
        }
        if let secrets = body["secrets"] {
            transform.secrets = try parseSecrets(secrets, at: field + ".secrets")
        }
        if let user = body["user"] {
            let name = try string(user, at: field + ".user")
            guard name.range(of: "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$", options: .regularExpression) != nil else {
                throw PipelineError.spec(field + ".user", "'\(name)' is not a user name or id", value: name)
            }
            transform.user = name
        }
        if transform.stage != nil,
            transform.secrets != nil || transform.user != nil || transform.acceptReturnCode != nil
        {
            throw PipelineError.spec(
                field, "`secrets`, `user` and `acceptReturnCode` go with `cmd`; a built-in stage runs inside the engine"
            )
        }
        switch (transform.stage, transform.cmd.isEmpty) {
        case (nil, true):
            throw PipelineError.spec(field, "give a built-in `stage` or a `cmd` to run")
        case (.some, false):
            throw PipelineError.spec(field, "give either `stage` or `cmd`, not both")
        case (.some, true) where !transform.stdin.isEmpty:
            throw PipelineError.spec(field + ".stdin", "goes with `cmd`; a built-in stage reads no standard input")
        case (nil, false) where !transform.options.isEmpty:
            throw PipelineError.spec(field + ".options", "go with a built-in `stage`; pass a command arguments instead")
        default:
            return transform
        }
    }

    // MARK: Values

    /// A mapping with only the `allowed` keys and, for a `section` of Pachyderm's spec, the fields
    /// `PachydermFields` lists there: a kept one is noted, a refused one an error. Keys may be snake_case, as
    /// Pachyderm also takes them (`datum_tries` is `datumTries`); the result is keyed in camelCase. A null, and
    /// a kept or refused field set to false or empty, count as absent, as they mean nothing in Pachyderm either.
    private static func object(
        _ value: Any?, at field: String, allowed: [String], section: PachydermFields.Section? = nil,
        notes: inout [String]
    ) throws -> [String: Any] {
        guard let value, !(value is NSNull) else { throw PipelineError.spec(field, "is required") }
        guard let map = value as? [String: Any] else {
            throw PipelineError.spec(field, "must be a mapping with the fields \(allowed.joined(separator: ", "))")
        }
        let kept = section.flatMap { PachydermFields.kept[$0] } ?? [:]
        let refused = section.flatMap { PachydermFields.refused[$0] } ?? [:]
        var result: [String: Any] = [:]
        for key in map.keys.sorted() {
            let name = camelCase(key)
            let path = field == "spec" ? name : "\(field).\(name)"
            guard let item = map[key], !(item is NSNull) else { continue }
            if name != key, map[name] != nil {
                throw PipelineError.spec(path, "is given twice, as `\(key)` and `\(name)`; keep one", value: key)
            }
            if refused[name] != nil || kept[name] != nil, isUnset(item) { continue }
            if let reason = refused[name] {
                throw PipelineError.spec(path, "cannot be honoured: \(reason)", value: key)
            }
            if let reason = kept[name] {
                notes.append("\(path) (\(reason))")
                if !allowed.contains(name) { continue }
            }
            guard allowed.contains(name) || kept[name] != nil else {
                throw PipelineError.spec(
                    path, "is not a known field; allowed here: \(allowed.joined(separator: ", "))", value: key)
            }
            result[name] = item
        }
        return result
    }

    /// `datum_tries` → `datumTries`; a key without `_` as it is.
    static func camelCase(_ key: String) -> String {
        guard key.contains("_") else { return key }
        let parts = key.split(separator: "_", omittingEmptySubsequences: true)
        guard let first = parts.first else { return key }
        return String(first) + parts.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }

    /// False, empty or zero: what Pachyderm writes for a field it leaves unset.
    private static func isUnset(_ value: Any) -> Bool {
        switch value {
        case let flag as Bool: !flag
        case let text as String: text.isEmpty
        case let list as [Any]: list.isEmpty
        case let map as [String: Any]: map.isEmpty
        default: false
        }
    }

    private static func flag(_ value: Any, at field: String) throws -> Bool {
        guard let flag = value as? Bool else {
            throw PipelineError.spec(field, "must be true or false", value: "\(value)")
        }
        return flag
    }

    private static func string(_ value: Any?, at field: String) throws -> String {
        guard let value else { throw PipelineError.spec(field, "is required") }
        guard let text = value as? String, !text.isEmpty else {
            throw PipelineError.spec(field, "must be a non-empty string", value: "\(value)")
        }
        return text
    }

    private static func integer(_ value: Any, at field: String, in range: ClosedRange<Int>) throws -> Int {
        guard let number = value as? Int, range.contains(number) else {
            throw PipelineError.spec(
                field, "must be a whole number from \(range.lowerBound) to \(range.upperBound)", value: "\(value)")
        }
        return number
    }

    /// A positive duration: a number of seconds, or a number with a unit (`250ms`, `30s`, `5m`, `1h`).
    private static func duration(_ value: Any, at field: String) throws -> Double {
        guard let seconds = Duration.seconds(value) else {
            throw PipelineError.spec(
                field, "must be a positive duration such as 30s, 5m, 1h or 250ms", value: "\(value)")
        }
        return seconds
    }

    /// Durations as people write them in YAML.
    public enum Duration {
        /// A positive, finite number of seconds, or a number with a unit (`250ms`, `30s`, `5m`, `1h`); nil else.
        public static func seconds(_ value: Any) -> Double? {
            let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)]
            var seconds: Double?
            if let number = value as? Int {
                seconds = Double(number)
            } else if let number = value as? Double {
                seconds = number
            } else if let text = value as? String {
                for (suffix, scale) in units where text.hasSuffix(suffix) {
                    if let number = Double(text.dropLast(suffix.count)) {
                        seconds = number * scale
                        break
                    }
                }
            }
            guard let seconds, seconds > 0, seconds.isFinite else { return nil }
            return seconds
        }
    }

    private static func stringList(_ value: Any, at field: String) throws -> [String] {
        guard let list = value as? [Any], !list.isEmpty else {
            throw PipelineError.spec(field, "must be a non-empty list of strings")
        }
        return try list.enumerated().map { try scalar($1, at: "\(field)[\($0)]") }
    }

    private static func stringMap(_ value: Any, at field: String) throws -> [String: String] {
        guard let map = value as? [String: Any] else {
            throw PipelineError.spec(field, "must be a mapping of names to values")
        }
        return try map.reduce(into: [:]) { $0[$1.key] = try scalar($1.value, at: "\(field).\($1.key)") }
    }

    /// A string, number or boolean, as text.
    private static func scalar(_ value: Any, at field: String) throws -> String {
        switch value {
        case let text as String: return text
        case let bool as Bool: return bool ? "true" : "false"
        case let number as Int: return String(number)
        case let number as Double: return String(number)
        default: throw PipelineError.spec(field, "must be a string, number or true/false", value: "\(value)")
        }
    }

    private static func check(_ field: String, _ value: String, _ validate: (String) throws -> Void) throws {
        do {
            try validate(value)
        } catch let error as VigilError {
            throw PipelineError.spec(field, error.message, value: value)
        }
    }
}
