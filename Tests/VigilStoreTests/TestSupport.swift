import Foundation
import Logging
import VigilStore

/// A fresh folder under the system temp directory, removed by `remove()`.
struct TemporaryFolder {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    func remove() {
        try? FileManager.default.removeItem(at: url)
    }
}

/// A deterministic random source (SplitMix64), so a failing property test can be replayed from its seed.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var value = state
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        return value ^ (value >> 31)
    }

    /// `count` bytes from the generator, eight at a time: one `UInt8.random` per byte takes seconds of a debug
    /// build's CPU for a few megabytes, which the suites running beside it wait for.
    mutating func bytes(_ count: Int) -> Data {
        var data = Data(count: count)
        data.withUnsafeMutableBytes { raw in
            var offset = 0
            while offset + 8 <= count {
                raw.storeBytes(of: next(), toByteOffset: offset, as: UInt64.self)
                offset += 8
            }
            var last = next()
            while offset < count {
                raw[offset] = UInt8(truncatingIfNeeded: last)
                last >>= 8
                offset += 1
            }
        }
        return data
    }
}

extension Logger {
    static let test = Logger(label: "vigil-test") { _ in SwiftLogNoOpLogHandler() }
}

/// A store over in-memory parts, for tests of the logic above the storage seams.
func makeMemoryStore(clock: @escaping @Sendable () -> Date = { Date() }) throws -> VersionedStore {
    VersionedStore(
        blobs: InMemoryBlobStore(clock: clock), metadata: try SQLiteMetadataStore(), logger: .test, clock: clock)
}

/// Every file of a commit's tree, path to content hash.
func snapshot(_ store: VersionedStore, _ root: TreeRoot) async throws -> [String: BlobHash] {
    var files: [String: BlobHash] = [:]
    try await store.trees.walkFiles(under: root.hash) { path, entry in files[path] = entry.hash }
    return files
}

extension Data {
    init(_ text: String) {
        self = Data(text.utf8)
    }
}
