import Crypto
import Foundation
import Synchronization
import VigilStore

/// A pipeline: which input data it reads (repos, branches, globs), what it runs on each datum, and how.
/// Field names follow Pachyderm's where they mean the same thing. Parse one with `PipelineSpecParser`.
public struct PipelineSpec: Sendable, Hashable, Codable {
    public var name: String
    public var description: String
    public var input: PipelineInput
    public var transform: Transform
    /// Workers processing datums at once.
    public var parallelism: Int
    /// Attempts per datum before it is recorded as failed.
    public var datumTries: Int
    /// Seconds one attempt may take; nil for the default, `defaultDatumTimeout`.
    public var datumTimeout: Double?
    /// What one attempt of an external command may use (Pachyderm's `resourceLimits`).
    public var resourceLimits: ResourceLimits?
    /// What a worker asks a scheduler for (Pachyderm's `resourceRequests`): kept for Kubernetes and exports, not
    /// applied by a local engine.
    public var resourceRequests: ResourceLimits?
    /// Whether a scheduler may scale the pipeline's workers down to none while it is idle (Pachyderm's
    /// `autoscaling`): kept for Kubernetes and exports.
    public var autoscaling: Bool?
    /// Pachyderm's `salt`: part of what the pipeline computes, so a new salt reprocesses every datum.
    public var salt: String?

    /// A datum that hangs must not hold a worker for ever: the limit when the spec gives none.
    public static let defaultDatumTimeout: Double = 600

    /// The time one attempt may take.
    public var effectiveDatumTimeout: Double { datumTimeout ?? Self.defaultDatumTimeout }

    public init(
        name: String, description: String = "", input: PipelineInput, transform: Transform, parallelism: Int = 1,
        datumTries: Int = 3, datumTimeout: Double? = nil, resourceLimits: ResourceLimits? = nil,
        resourceRequests: ResourceLimits? = nil, autoscaling: Bool? = nil, salt: String? = nil
    ) {
        self.name = name
        self.description = description
        self.input = input
        self.transform = transform
        self.parallelism = parallelism
        self.datumTries = datumTries
        self.datumTimeout = datumTimeout
        self.resourceLimits = resourceLimits
        self.resourceRequests = resourceRequests
        self.autoscaling = autoscaling
        self.salt = salt
    }

    /// Identifies what the pipeline computes: its input structure, its transform and its salt. Worker count,
    /// tries, time-out, resources and description are left out, so changing them does not reprocess finished
    /// datums.
    /// Remembered per spec: the engine asks for it at every step of every pipeline, and encoding and hashing
    /// the spec each time cost a stage about 0.3 ms of CPU on the way to each alert (profiled in `serve`).
    public var specHash: String {
        if let known = Self.hashes.withLock({ $0[self] }) { return known }
        // Optional members are left out of the encoding when nil, so hashes of specs without them stay put.
        struct Identity: Encodable {
            var input: PipelineInput
            var transform: Transform
            var salt: String?
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let bytes = (try? encoder.encode(Identity(input: input, transform: transform, salt: salt))) ?? Data()
        let hash = Hex.lowercase(SHA256.hash(data: bytes))
        Self.hashes.withLock { known in
            // Specs change rarely; a bound keeps a process that edits many from growing without end.
            if known.count >= 256 { known.removeAll() }
            known[self] = hash
        }
        return hash
    }

    private static let hashes = Mutex<[PipelineSpec: String]>([:])
}

/// Where datums come from: one repo's branch under a glob, or a cross product or union of inputs.
public indirect enum PipelineInput: Sendable, Hashable, Codable {
    case pfs(PFSInput)
    case cross([PipelineInput])
    case union([PipelineInput])

    /// The names of side inputs (`reprocess: false`): left out of datum identity and of what starts a job.
    public var sideInputs: Set<String> { Set(leaves.filter { !$0.reprocess }.map(\.name)) }

    /// Every `pfs` input, depth first.
    public var leaves: [PFSInput] {
        switch self {
        case .pfs(let input): [input]
        case .cross(let inputs), .union(let inputs): inputs.flatMap(\.leaves)
        }
    }
}

/// One repo's branch, split into datums by a glob. `name` is where it appears to the code (`/pfs/<name>`).
public struct PFSInput: Sendable, Hashable, Codable {
    public var repo: String
    public var branch: String
    public var glob: String
    public var name: String
    /// False for a *side input*: every new datum reads its latest commit, but a change to it does not
    /// reprocess datums already done (nor start a job), and it is not part of a datum's identity. What lets a
    /// rules change apply from now on without re-judging history.
    public var reprocess: Bool

    public init(repo: String, branch: String = "master", glob: String, name: String? = nil, reprocess: Bool = true) {
        self.repo = repo
        self.branch = branch
        self.glob = glob
        self.name = name ?? repo
        self.reprocess = reprocess
    }

    enum CodingKeys: String, CodingKey {
        case repo, branch, glob, name, reprocess
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        repo = try container.decode(String.self, forKey: .repo)
        branch = try container.decode(String.self, forKey: .branch)
        glob = try container.decode(String.self, forKey: .glob)
        name = try container.decode(String.self, forKey: .name)
        reprocess = try container.decodeIfPresent(Bool.self, forKey: .reprocess) ?? true
    }

    /// `reprocess` is written only when false, so the spec hash of every pipeline without side inputs stays
    /// what it was before side inputs existed.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(repo, forKey: .repo)
        try container.encode(branch, forKey: .branch)
        try container.encode(glob, forKey: .glob)
        try container.encode(name, forKey: .name)
        if !reprocess { try container.encode(false, forKey: .reprocess) }
    }
}

/// What runs on each datum: a built-in stage with its options, or an external command.
public struct Transform: Sendable, Hashable, Codable {
    /// A built-in Swift stage, e.g. `validate`.
    public var stage: String?
    /// Options of the built-in stage, as written (the stage parses and checks them).
    public var options: [String: String]
    /// An external command and its arguments, run in Pachyderm's `/pfs` layout.
    public var cmd: [String]
    public var env: [String: String]
    /// Lines written to the command's standard input.
    public var stdin: [String]
    /// Variables of the engine's own environment the command may see (Pachyderm's `secrets` with `envVar`):
    /// nothing else of the engine's environment reaches it beyond a short allow-list.
    public var secrets: [SecretVariable]?
    /// The user an engine running as root starts the command as (default `nobody`); ignored otherwise.
    public var user: String?
    /// The container image Pachyderm or Kubernetes runs the command in. Kept and shown; a local engine runs
    /// the command on its own host.
    public var image: String?
    /// Exit codes besides 0 that count as success (Pachyderm's `acceptReturnCode`).
    public var acceptReturnCode: [Int]?

    public init(
        stage: String? = nil, options: [String: String] = [:], cmd: [String] = [], env: [String: String] = [:],
        stdin: [String] = [], secrets: [SecretVariable]? = nil, user: String? = nil, image: String? = nil,
        acceptReturnCode: [Int]? = nil
    ) {
        self.stage = stage
        self.options = options
        self.cmd = cmd
        self.env = env
        self.stdin = stdin
        self.secrets = secrets
        self.user = user
        self.image = image
        self.acceptReturnCode = acceptReturnCode
    }
}

/// One variable handed to an external command from the engine's environment: `key` (or, without one,
/// `envVar` itself) read there, set as `envVar`. `name` is the Kubernetes secret Pachyderm would read it from;
/// kept so a spec goes back to Pachyderm unchanged.
public struct SecretVariable: Sendable, Hashable, Codable {
    public var name: String?
    public var key: String?
    public var envVar: String

    public init(name: String? = nil, key: String? = nil, envVar: String) {
        self.name = name
        self.key = key
        self.envVar = envVar
    }

    /// The engine's variable it reads.
    public var source: String { key ?? envVar }
}

/// Resources of one worker, as Pachyderm's `ResourceSpec` gives them. As `resourceLimits`, `memory` and `disk`
/// limit each attempt of an external command here; `cpu` and `gpu` are for a scheduler such as Kubernetes and
/// are only recorded.
public struct ResourceLimits: Sendable, Hashable, Codable {
    /// Bytes of address space.
    public var memory: Int64?
    /// Bytes the command may write under `/pfs/out` in all.
    public var disk: Int64?
    public var cpu: Double?
    public var gpu: GPURequest?

    public init(memory: Int64? = nil, disk: Int64? = nil, cpu: Double? = nil, gpu: GPURequest? = nil) {
        self.memory = memory
        self.disk = disk
        self.cpu = cpu
        self.gpu = gpu
    }

    public static let defaultMemory: Int64 = 4 << 30
    public static let defaultDisk: Int64 = 1 << 30
}

/// GPUs a worker asks its scheduler for (Pachyderm's `GPUSpec`): `type` is the Kubernetes resource, e.g.
/// `nvidia.com/gpu`.
public struct GPURequest: Sendable, Hashable, Codable {
    public var type: String
    public var number: Int

    public init(type: String, number: Int) {
        self.type = type
        self.number = number
    }
}
