import Foundation

/// A Vigil pipeline as a Pachyderm pipeline spec (`CreatePipelineRequest`, camelCase JSON, valid against
/// Pachyderm's generated JSON Schema), so it runs unchanged on a Pachyderm cluster. A built-in stage becomes
/// `vigil stage NAME --option KEY=VALUE…` in Vigil's image: the same stage, reading the datum from
/// `/pfs/<input>` and writing `/pfs/out`. An external command keeps its own `cmd`, `stdin`, `env` and image.
public struct PachydermExport: Sendable {
    /// The spec, as JSON with sorted keys.
    public var json: Data
    /// What does not carry over exactly, one line each.
    public var notes: [String]

    /// The image a built-in stage runs in when the caller names none.
    public static let defaultImage = "vigil:\(VigilVersion.current)"

    /// `image` runs built-in stages, and commands whose spec names no image of its own.
    public init(_ spec: PipelineSpec, image: String = Self.defaultImage) throws {
        var notes: [String] = []
        for input in spec.input.leaves where !input.reprocess {
            notes.append(
                "input \(input.name): Pachyderm reprocesses datums when it changes (Vigil's `reprocess: false` has "
                    + "no Pachyderm equivalent)")
        }
        let request = Request(
            pipeline: .init(name: spec.name),
            description: spec.description.isEmpty ? nil : spec.description,
            input: Input(spec.input),
            transform: Self.transform(spec, image: image, notes: &notes),
            parallelismSpec: spec.parallelism == 1 ? nil : .init(constant: spec.parallelism),
            datumTries: spec.datumTries,
            datumTimeout: spec.datumTimeout.map(Self.seconds),
            resourceLimits: spec.resourceLimits.map(Resources.init),
            resourceRequests: spec.resourceRequests.map(Resources.init),
            autoscaling: spec.autoscaling,
            salt: spec.salt)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        json = try encoder.encode(request)
        self.notes = notes
    }

    private static func transform(_ spec: PipelineSpec, image: String, notes: inout [String]) -> Transform {
        let source = spec.transform
        guard source.stage == nil else {
            let options = source.options.sorted { $0.key < $1.key }.flatMap { ["--option", "\($0.key)=\($0.value)"] }
            return Transform(image: image, cmd: ["vigil", "stage", source.stage ?? ""] + options)
        }
        let secrets = source.secrets?.map { secret in
            let name = secret.name ?? "\(spec.name)-secrets"
            if secret.name == nil {
                notes.append(
                    "transform.secrets: \(secret.envVar) is read from the Kubernetes secret `\(name)`, key "
                        + "`\(secret.source)`; create it there")
            }
            return Secret(name: name, key: secret.source, envVar: secret.envVar)
        }
        if source.image == nil {
            notes.append(
                "transform.image: \(spec.name) names no image of its own; its command is exported to run in "
                    + "\(image), which holds Vigil and its stages only: give the image it needs in the spec")
        }
        return Transform(
            image: source.image ?? image, cmd: source.cmd, stdin: source.stdin.isEmpty ? nil : source.stdin,
            env: source.env.isEmpty ? nil : source.env, secrets: secrets, user: source.user,
            acceptReturnCode: source.acceptReturnCode)
    }

    /// A duration as Pachyderm's schema writes it: seconds with an `s`.
    static func seconds(_ value: Double) -> String {
        value == value.rounded() && value < 1e15 ? "\(Int64(value))s" : "\(value)s"
    }

    /// A size as Kubernetes writes it: the largest binary unit that divides it, else bytes.
    static func size(_ bytes: Int64) -> String {
        for (unit, factor) in [("Ti", Int64(1) << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)]
        where bytes >= factor && bytes % factor == 0 {
            return "\(bytes / factor)\(unit)"
        }
        return "\(bytes)"
    }

    // MARK: Pachyderm's shapes (only the fields written)

    struct Request: Encodable {
        struct Name: Encodable { var name: String }
        struct Parallelism: Encodable { var constant: Int }
        var pipeline: Name
        var description: String?
        var input: Input
        var transform: Transform
        var parallelismSpec: Parallelism?
        var datumTries: Int
        var datumTimeout: String?
        var resourceLimits: Resources?
        var resourceRequests: Resources?
        var autoscaling: Bool?
        var salt: String?
    }

    indirect enum Input: Encodable {
        struct PFS: Encodable {
            var repo: String
            var branch: String
            var glob: String
            var name: String
        }
        case pfs(PFS)
        case cross([Input])
        case union([Input])

        init(_ input: PipelineInput) {
            switch input {
            case .pfs(let pfs): self = .pfs(PFS(repo: pfs.repo, branch: pfs.branch, glob: pfs.glob, name: pfs.name))
            case .cross(let inputs): self = .cross(inputs.map(Input.init))
            case .union(let inputs): self = .union(inputs.map(Input.init))
            }
        }

        enum Key: String, CodingKey { case pfs, cross, union }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Key.self)
            switch self {
            case .pfs(let pfs): try container.encode(pfs, forKey: .pfs)
            case .cross(let inputs): try container.encode(inputs, forKey: .cross)
            case .union(let inputs): try container.encode(inputs, forKey: .union)
            }
        }
    }

    struct Transform: Encodable {
        var image: String
        var cmd: [String]
        var stdin: [String]?
        var env: [String: String]?
        var secrets: [Secret]?
        var user: String?
        var acceptReturnCode: [Int]?
    }

    struct Secret: Encodable {
        var name: String
        var key: String
        var envVar: String
    }

    struct Resources: Encodable {
        struct GPU: Encodable {
            var type: String
            var number: Int
        }
        var cpu: Double?
        var memory: String?
        var disk: String?
        var gpu: GPU?

        init(_ limits: ResourceLimits) {
            cpu = limits.cpu
            memory = limits.memory.map(PachydermExport.size)
            disk = limits.disk.map(PachydermExport.size)
            gpu = limits.gpu.map { GPU(type: $0.type, number: $0.number) }
        }
    }
}
