import Foundation
import Synchronization
import Testing

@testable import VigilStore

/// Blob files made ahead on a queue of their own, so that writers on the cooperative threads never allocate an
/// inode: used when ready, never handed out once aged, replaced when a gc took them, removed at shutdown.
@Suite("Blob files made ahead")
struct PrecreatedFilesTests {
    static func madeFiles(in root: URL) throws -> [String: UInt64] {
        var found: [String: UInt64] = [:]
        for folder in try FileManager.default.contentsOfDirectory(atPath: root.path) where folder.count == 2 {
            let path = root.path + "/" + folder
            for name in try FileManager.default.contentsOfDirectory(atPath: path) where name.hasPrefix(".p") {
                let attributes = try FileManager.default.attributesOfItem(atPath: path + "/" + name)
                found[path + "/" + name] = (attributes[.systemFileNumber] as? NSNumber)?.uint64Value
            }
        }
        return found
    }

    static func inode(of path: String) throws -> UInt64? {
        (try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? NSNumber)?.uint64Value
    }

    static func eventually(_ condition: () throws -> Bool) async throws {
        for _ in 0..<500 {
            if try condition() { return }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Runs `body` while `store` makes its files ahead, once they are ready; checks that none is left once
    /// stopped.
    static func whileMakingFiles(
        in store: FileSystemBlobStore, _ body: (PrecreatedFiles) async throws -> Void
    ) async throws {
        let files = store.precreated
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await files.run() }
            try await eventually { files.ready == 256 * files.perFolder }
            try await body(files)
            group.cancelAll()
            try await group.waitForAll()
        }
        #expect(try madeFiles(in: store.root).isEmpty, "files left after the service stopped")
        #expect(files.ready == 0)
    }

    @Test func aWriteFillsAFileMadeAheadAndTheRestAreRemovedAtShutdown() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let store = try FileSystemBlobStore(root: folder.url.appendingPathComponent("blobs"))
        // Not running: nothing is made, and writes create their own files as before.
        #expect(store.precreated.ready == 0)
        let before = try await store.put(Data("written before".utf8))
        #expect(try await store.get(before.hash) == Data("written before".utf8))
        #expect(try Self.madeFiles(in: store.root).isEmpty)

        try await Self.whileMakingFiles(in: store) { files in
            #expect(files.ready == 256 * files.perFolder)
            let made = try Self.madeFiles(in: store.root)
            #expect(made.count == 256 * files.perFolder)
            let data = Data("a detection record".utf8)
            let write = try await store.put(data)
            #expect(write.stored)
            let path = store.path(of: write.hash)
            #expect(try await store.get(write.hash) == data)
            // The blob is one of the files made ahead in its own folder, renamed into place, and read-only like
            // every blob.
            let inode = try #require(try Self.inode(of: path))
            let source = try #require(made.first { $0.value == inode }?.key)
            #expect(
                URL(fileURLWithPath: source).deletingLastPathComponent().path
                    == URL(fileURLWithPath: path).deletingLastPathComponent().path)
            let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber
            #expect(mode?.intValue == 0o400)
            #expect(files.ready == 256 * files.perFolder - 1)
        }
        // Stopped: the blobs stay.
        #expect(try await store.get(before.hash) == Data("written before".utf8))
    }

    @Test func aHashsFanOutFolderIsItsFirstTwoHexDigits() {
        for index in 0..<1_000 {
            let hash = BlobHash(of: Data("blob \(index)".utf8))
            #expect(String(hash.fanOutIndex, radix: 16).leftPadded(to: 2) == hash.hex.prefix(2))
        }
    }

    @Test func aFileAGcRemovedIsReplacedByOneTheWriterMakes() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let store = try FileSystemBlobStore(root: folder.url.appendingPathComponent("blobs"))
        try await Self.whileMakingFiles(in: store) { _ in
            // A gc with no grace takes every dot-named file for an abandoned write.
            for path in try Self.madeFiles(in: store.root).keys { try FileManager.default.removeItem(atPath: path) }
            for index in 0..<40 {
                let data = Data("record \(index)".utf8)
                let write = try await store.put(data)
                #expect(try await store.get(write.hash) == data)
            }
        }
        let leftovers = try FileManager.default.subpathsOfDirectory(atPath: store.root.path).filter {
            $0.split(separator: "/").last?.hasPrefix(".w") == true
        }
        #expect(leftovers.isEmpty, "a writer's own temp files are renamed into place or removed")
    }

    /// A clock that moves only when told.
    final class ManualClock: Sendable {
        private let start = ContinuousClock.now
        private let offset = Mutex(Duration.zero)

        func now() -> ContinuousClock.Instant { start + offset.withLock { $0 } }

        func advance(by duration: Duration) { offset.withLock { $0 += duration } }
    }

    static func names(in path: String) throws -> Set<String> {
        Set(try FileManager.default.contentsOfDirectory(atPath: path))
    }

    /// Runs `body` while one folder's files are made ahead on `clock` (four minutes to age, a refresh every
    /// 80 s), once they are ready; checks that none is left once stopped.
    static func whileMakingFiles(
        perFolder: Int, clock: ManualClock, _ body: (PrecreatedFiles, String) async throws -> Void
    ) async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.url.path + "/f"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let files = PrecreatedFiles(
            folders: [path], perFolder: perFolder, maxAge: .seconds(240), refreshEvery: .seconds(80),
            now: { clock.now() })
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await files.run() }
            try await eventually { files.ready == perFolder }
            try await body(files, path)
            group.cancelAll()
            try await group.waitForAll()
        }
        #expect(try names(in: path).isEmpty, "files left after the service stopped")
    }

    @Test func filesAboutToAgeAreReplacedAtARefresh() async throws {
        let clock = ManualClock()
        try await Self.whileMakingFiles(perFolder: 2, clock: clock) { files, path in
            let first = try Self.names(in: path)
            #expect(first.count == 2)
            // Young enough to outlive the next refresh: kept.
            clock.advance(by: .seconds(150))
            await files.refresh()
            #expect(try Self.names(in: path) == first)
            // Would age before the next one: replaced.
            clock.advance(by: .seconds(20))
            await files.refresh()
            let second = try Self.names(in: path)
            #expect(second.count == 2 && second.isDisjoint(with: first))
            #expect(files.ready == 2)
        }
    }

    @Test func aFileThatAgedIsNotHandedOut() async throws {
        let clock = ManualClock()
        // Enough per folder that one taken file does not start a refill. The aged one is removed with the rest.
        try await Self.whileMakingFiles(perFolder: 16, clock: clock) { files, _ in
            let young = try #require(files.take(folder: 0))
            #expect(FileManager.default.fileExists(atPath: young))
            clock.advance(by: .seconds(241))
            #expect(files.take(folder: 0) == nil, "aged")
            try FileManager.default.removeItem(atPath: young)
        }
    }
}
