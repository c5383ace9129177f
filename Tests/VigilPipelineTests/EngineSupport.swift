import Foundation
import Logging
import Synchronization
import VigilBackends
import VigilPipeline
import VigilStore

/// An engine on the backends the composition root builds: everything in memory, or the embedded default in a
/// data folder (for external commands).
struct EngineFixture {
    let store: VersionedStore
    var environment: EngineEnvironment
    let folder: URL
    /// How the engine hears of other processes' writes: the data folder's feed when on disk.
    let changeFeed: any ChangeFeed

    init(stages: StageRegistry = .builtIn, onDisk: Bool = false) async throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-engine-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        let backends =
            if onDisk {
                try await Backends.embedded(home: folder, create: true, logger: logger)
            } else {
                try Backends.inMemory(home: folder, logger: logger)
            }
        store = backends.store
        environment = try backends.engineEnvironment(stages: stages)
        changeFeed = backends.changeFeed()
    }

    var manager: PipelineManager { PipelineManager(environment: environment) }
    var engine: PipelineEngine { PipelineEngine(environment: environment) }

    @discardableResult
    func create(_ yaml: String) async throws -> PipelineRecord {
        try await manager.create(try PipelineSpecParser.parse(yaml), source: yaml)
    }

    /// Copy pipelines, each reading the one before it, the first reading `repo`: `one` from `images`, `two`
    /// from `one`, and so on.
    func createCopyChain(_ names: [String], on repo: String = "images") async throws {
        var input = repo
        for name in names {
            try await create("{name: \(name), input: {pfs: {repo: \(input), glob: '/*'}}, transform: {stage: copy}}")
            input = name
        }
    }

    /// The files of a repo's head: path → text.
    func files(_ repo: String) async throws -> [String: String] {
        guard let head = try await store.resolveCommit(repo, ref: nil) else { return [:] }
        var out: [String: String] = [:]
        try await store.trees.walkFiles(under: head.tree.hash) { path, entry in
            out[path] = String(decoding: try await store.blobs.get(entry.hash), as: UTF8.self)
        }
        return out
    }

    func cleanUp() {
        try? FileManager.default.removeItem(at: folder)
    }
}

/// A stage for tests: writes `<input path>.out` holding the inputs' texts joined, and counts its runs; fails
/// while `failures` says so for a path.
final class RecordingStage: Stage, Sendable {
    let runs = Mutex<[String: Int]>([:])
    let failFirst: Int
    let alwaysFail: Set<String>

    init(failFirst: Int = 0, alwaysFail: Set<String> = []) {
        self.failFirst = failFirst
        self.alwaysFail = alwaysFail
    }

    func process(_ datum: DatumContext) async throws {
        let key = datum.datum.inputs.map(\.path).joined(separator: "+")
        let count = runs.withLock { runs in
            runs[key, default: 0] += 1
            return runs[key]!
        }
        if alwaysFail.contains(key) { throw PipelineError(.stageFailed, "refusing \(key)") }
        if count <= failFirst { throw PipelineError(.stageFailed, "attempt \(count) of \(key) fails") }
        var texts: [String] = []
        for input in datum.datum.inputs {
            for file in try await datum.files(of: input) {
                texts.append(String(decoding: try await datum.read(file.entry), as: UTF8.self))
            }
        }
        datum.log("processed \(key)")
        let first = datum.datum.inputs[0].path
        try await datum.write((first == "/" ? "/all" : first) + ".out", data: Data(texts.joined(separator: "|").utf8))
    }

    var totalRuns: Int { runs.withLock { $0.values.reduce(0, +) } }
}

extension StageRegistry {
    static func with(_ name: String, _ stage: any Stage) -> StageRegistry {
        var registry = StageRegistry.builtIn
        registry.register(name) { _ in stage }
        return registry
    }
}
