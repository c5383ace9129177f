import Foundation
import VigilStore
import Yams

/// Reads a pipeline spec from YAML or JSON (JSON is read as YAML, which it is). Checks every field by hand rather
/// than through `Decodable`, so that a misspelt field (`datum_tries`) is an error instead of a silent default,
/// and every error names the field path and what is allowed there.
public enum PipelineSpecParser {
    static let topLevelKeys = [
        "name", "description", "input", "transform", "parallelism", "datumTries", "datumTimeout",
        "resourceLimits",
    ]

    public static func parse(_ text: String) throws -> PipelineSpec {
        let document: Any?
        do {
            document = try Yams.load(yaml: text)
        } catch {
            throw PipelineError.spec("spec", "is not valid YAML or JSON: \(error)")
        }
        let root = try object(document, at: "spec", allowed: topLevelKeys)
        let name = try string(root["name"], at: "name")
        do {
            try Names.validateRepo(name)
        } catch {
            throw PipelineError.spec(
                "name",
                "'\(name)' cannot name a pipeline (it also names the output repo): use 1-63 letters, "
                    + "digits, '_' or '-', starting with a letter or digit", value: name)
        }
        let input = try parseInput(root["input"], at: "input")
        var names = Set<String>()
        for leaf in input.leaves where !names.insert(leaf.name).inserted {
            throw PipelineError.spec(
                "input", "two inputs are named '\(leaf.name)'; give each a distinct `name`", value: leaf.name)
        }
        return PipelineSpec(
            name: name,
            description: try root["description"].map { try string($0, at: "description") } ?? "",
            input: input,
            transform: try parseTransform(root["transform"], at: "transform"),
            parallelism: try root["parallelism"].map { try integer($0, at: "parallelism", in: 1...256) } ?? 1,
            datumTries: try root["datumTries"].map { try integer($0, at: "datumTries", in: 1...100) } ?? 3,
            datumTimeout: try root["datumTimeout"].map { try duration($0, at: "datumTimeout") },
            resourceLimits: try root["resourceLimits"].map { try parseLimits($0, at: "resourceLimits") })
    }

    /// Reads a spec file, naming the file in errors.
    public static func parse(contentsOf file: URL) throws -> PipelineSpec {
        let text: String
        do {
            text = try String(contentsOf: file, encoding: .utf8)
        } catch {
            throw PipelineError.spec("spec", "cannot read '\(file.path)': \(error.localizedDescription)")
        }
        do {
            return try parse(text)
        } catch var error as PipelineError {
            error.message += " (in \(file.lastPathComponent))"
            throw error
        }
    }

    // MARK: Sections

    private static func parseSecrets(_ value: Any, at field: String) throws -> [SecretVariable] {
        guard let list = value as? [Any] else {
            throw PipelineError.spec(field, "must be a list of {envVar: NAME} (optionally with `key` and `name`)")
        }
        return try list.enumerated().map { index, item in
            let at = "\(field)[\(index)]"
            let body = try object(item, at: at, allowed: ["name", "key", "envVar", "mountPath"])
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

    private static func parseLimits(_ value: Any, at field: String) throws -> ResourceLimits {
        let body = try object(value, at: field, allowed: ["memory", "disk", "cpu", "gpu"])
        var limits = ResourceLimits()
        limits.memory = try body["memory"].map { try bytes($0, at: field + ".memory", minimum: 16 << 20) }
        limits.disk = try body["disk"].map { try bytes($0, at: field + ".disk", minimum: 1) }
        if let cpu = body["cpu"] {
            guard let number = (cpu as? Double) ?? (cpu as? Int).map(Double.init), number > 0 else {
                throw PipelineError.spec(field + ".cpu", "must be a number of CPUs above 0", value: "\(cpu)")
            }
            limits.cpu = number
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

    private static func parseInput(_ value: Any?, at field: String) throws -> PipelineInput {
        let input = try object(value, at: field, allowed: ["pfs", "cross", "union"])
        guard input.count == 1, let (kind, body) = input.first else {
            throw PipelineError.spec(field, "give exactly one of `pfs`, `cross` or `union`")
        }
        switch kind {
        case "pfs":
            return .pfs(try parsePFS(body, at: field + ".pfs"))
        default:
            guard let list = body as? [Any] else {
                throw PipelineError.spec(field + "." + kind, "must be a list of inputs")
            }
            guard list.count >= 2 else {
                throw PipelineError.spec(field + "." + kind, "needs at least two inputs to combine")
            }
            let inputs = try list.enumerated().map { try parseInput($1, at: "\(field).\(kind)[\($0)]") }
            return kind == "cross" ? .cross(inputs) : .union(inputs)
        }
    }

    private static func parsePFS(_ value: Any?, at field: String) throws -> PFSInput {
        let pfs = try object(value, at: field, allowed: ["repo", "branch", "glob", "name", "reprocess"])
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
        var reprocess = true
        if let value = pfs["reprocess"] {
            guard let flag = value as? Bool else {
                throw PipelineError.spec(field + ".reprocess", "must be true or false", value: "\(value)")
            }
            reprocess = flag
        }
        return PFSInput(repo: repo, branch: branch, glob: glob, name: name, reprocess: reprocess)
    }

    private static func parseTransform(_ value: Any?, at field: String) throws -> Transform {
        let body = try object(
            value, at: field, allowed: ["stage", "options", "cmd", "env", "stdin", "secrets", "user"])
        var transform = Transform()
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
        if transform.stage != nil, transform.secrets != nil || transform.user != nil {
            throw PipelineError.spec(
                field, "`secrets` and `user` go with `cmd`; a built-in stage runs inside the engine")
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

    private static func object(_ value: Any?, at field: String, allowed: [String]) throws -> [String: Any] {
        guard let value else { throw PipelineError.spec(field, "is required") }
        guard let map = value as? [String: Any] else {
            throw PipelineError.spec(field, "must be a mapping with the fields \(allowed.joined(separator: ", "))")
        }
        for key in map.keys.sorted() where !allowed.contains(key) {
            throw PipelineError.spec(
                field == "spec" ? key : "\(field).\(key)",
                "is not a known field; allowed here: \(allowed.joined(separator: ", "))", value: key)
        }
        return map
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
            let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
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
