import Foundation
import Synchronization
import Tracing
import VigilStore

/// One datum as a stage sees it: its inputs to read, and a place for its outputs. Outputs go to the blob
/// store as they are written; the engine stages them into the job's output commit when the datum succeeds, so
/// a failed attempt leaves nothing behind in the output.
public final class DatumContext: Sendable {
    public let datum: Datum
    public let job: String
    public let attempt: Int
    let store: VersionedStore
    private let state = Mutex(State())

    private struct State {
        var outputs: [String: TreeValue] = [:]
        var log = LogTail()
    }

    init(datum: Datum, job: String, attempt: Int, store: VersionedStore) {
        self.datum = datum
        self.job = job
        self.attempt = attempt
        self.store = store
    }

    /// The datum's part from the input named `name` (`/pfs/<name>`).
    public func input(_ name: String) throws -> DatumInput {
        guard let input = datum.inputs.first(where: { $0.name == name }) else {
            throw PipelineError(
                .stageFailed,
                "the datum has no input named '\(name)' (it has: "
                    + datum.inputs.map(\.name).joined(separator: ", ") + ")", value: name)
        }
        return input
    }

    /// Every file of an input part, with its path in the input repo: the file itself, or all files under a
    /// matched folder.
    public func files(of input: DatumInput) async throws -> [(path: String, entry: TreeEntry)] {
        guard input.kind == .directory else {
            let name = String(input.path.split(separator: "/").last ?? "")
            return [(input.path, TreeEntry(name: name, value: TreeValue.file(input.hash, size: input.size)))]
        }
        var out: [(path: String, entry: TreeEntry)] = []
        try await store.trees.walkFiles(under: input.hash, path: input.path) { out.append(($0, $1)) }
        return out
    }

    /// The files under `subpath` of a folder input (e.g. `/invalid` of a whole repo), found by lookup rather than
    /// by walking the rest; empty when there is no such folder.
    public func files(of input: DatumInput, under subpath: String) async throws -> [(path: String, entry: TreeEntry)] {
        guard input.kind == .directory,
            let folder = try await store.trees.lookup(
                subpath, in: TreeRoot(hash: input.hash, size: input.size, files: 0)),
            folder.kind == .directory
        else { return [] }
        var out: [(path: String, entry: TreeEntry)] = []
        try await store.trees.walkFiles(
            under: folder.hash, path: StorePath.join(input.path, String(subpath.dropFirst()))
        ) {
            out.append(($0, $1))
        }
        return out
    }

    /// The bytes of a file (of any input: a content hash names it).
    public func read(_ file: TreeEntry) async throws -> Data {
        try await store.blobs.get(file.hash)
    }

    /// The bytes of a file input.
    public func read(_ input: DatumInput) async throws -> Data {
        guard input.kind == .file else {
            throw PipelineError(
                .stageFailed, "input '\(input.name)' matched the folder '\(input.path)', not a file; use files(of:)",
                value: input.path)
        }
        return try await store.blobs.get(input.hash)
    }

    /// Writes `data` at `path` of the output.
    public func write(_ path: String, data: Data) async throws {
        let normalized = try StorePath.normalize(path)
        let written = try await withSpan("record") { _ in try await store.blobs.put(data) }
        state.withLock { $0.outputs[normalized] = .file(written.hash, size: written.size) }
    }

    /// Writes a local file's bytes at `path` of the output.
    public func write(_ path: String, contentsOf file: URL) async throws {
        let normalized = try StorePath.normalize(path)
        let written = try await withSpan("record") { _ in try await store.blobs.put(contentsOf: file) }
        state.withLock { $0.outputs[normalized] = .file(written.hash, size: written.size) }
    }

    /// Puts an existing file (or folder) at `path` of the output without copying a byte: how a stage passes an
    /// input through (`validate` keeps a valid image as it is).
    public func link(_ path: String, to value: TreeValue) throws {
        let normalized = try StorePath.normalize(path)
        state.withLock { $0.outputs[normalized] = value }
    }

    /// Puts a stored blob (known by its hash, e.g. from a record) at `path`, storing no bytes; fails if the
    /// store does not have it, so an output never names a missing blob.
    public func link(_ path: String, toBlob hash: BlobHash, size: Int64) async throws {
        guard try await store.blobs.contains(hash) else {
            throw PipelineError(
                .stageFailed, "cannot put \(path): the store has no blob \(hash.hex)", value: hash.hex)
        }
        try link(path, to: .file(hash, size: size))
    }

    /// A line for this datum's log (`vigil logs`), kept up to the last 64 KiB.
    public func log(_ line: String) {
        state.withLock { $0.log.append(Data((line + "\n").utf8)) }
    }

    func appendLog(_ data: Data) {
        state.withLock { $0.log.append(data) }
    }

    var outputs: [OutputFile] {
        state.withLock { $0.outputs.map { OutputFile(path: $0.key, value: $0.value) } }
            .sorted { $0.path < $1.path }
    }

    var logText: String { state.withLock { $0.log.text } }
}

/// The last `limit` bytes of a log.
struct LogTail: Sendable {
    static let limit = 64 << 10
    private var bytes = Data()

    mutating func append(_ data: Data) {
        bytes.append(data)
        if bytes.count > 2 * Self.limit { bytes = Data(bytes.suffix(Self.limit)) }
    }

    var text: String { String(decoding: bytes.suffix(Self.limit), as: UTF8.self) }
}
