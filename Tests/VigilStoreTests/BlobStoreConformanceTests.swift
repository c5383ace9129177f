import Foundation
import ServerTestSupport
import Testing
import VigilStore

/// One suite, run against every `BlobStore` implementation: a new implementation joins `BlobStoreKind`.
enum BlobStoreKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case fileSystem
    /// The folder store as the embedded default opens it: keeping unsynced small blobs for the blob journal.
    case fileSystemJournaling
    case memory
    /// `S3BlobStore` on a real SeaweedFS (a fresh bucket per test), when the weed binary is there or on CI.
    case s3

    var testDescription: String { rawValue }

    /// The kinds that run here: S3 needs the weed binary (see `SeaweedServer`; `S3 backend` says when skipped).
    static let testable: [BlobStoreKind] =
        SeaweedServer.canRun ? allCases : [.fileSystem, .fileSystemJournaling, .memory]

    /// A fresh empty store, and what to call when the test is done.
    func make() async throws -> (any BlobStore, @Sendable () -> Void) {
        switch self {
        case .fileSystem:
            let folder = try TemporaryFolder()
            return (try FileSystemBlobStore(root: folder.url.appendingPathComponent("blobs")), { folder.remove() })
        case .fileSystemJournaling:
            let folder = try TemporaryFolder()
            let store = try FileSystemBlobStore(root: folder.url.appendingPathComponent("blobs"), journaling: true)
            return (store, { folder.remove() })
        case .memory:
            return (InMemoryBlobStore(), {})
        case .s3:
            let server = try await SeaweedServer.shared()
            var configuration = try await server.makeBucket(prefix: "conformance", logger: .test)
            // Small pages, so listing 600 blobs takes three pages.
            configuration.listPageSize = 250
            return (S3BlobStore(configuration: configuration, logger: .test), {})
        }
    }
}

@Suite("BlobStore conformance")
struct BlobStoreConformanceTests {
    @Test(arguments: BlobStoreKind.testable)
    func restoringWritesBackWhatIsMissingAndLeavesWhatIsWhole(kind: BlobStoreKind) async throws {
        let (store, cleanup) = try await kind.make()
        defer { cleanup() }
        let kept = try await store.put(Data("a record already stored"))
        try await store.restore(Data("a record already stored"))
        #expect(try await store.get(kept.hash) == Data("a record already stored"))
        let lost = Data("a record a power cut lost")
        #expect(try await !store.contains(BlobHash(of: lost)))
        try await store.restore(lost)
        #expect(try await store.get(BlobHash(of: lost)) == lost)
    }

    @Test(arguments: BlobStoreKind.testable)
    func unsyncedSmallBlobsListWhatNoFlushCoveredOrNothing(kind: BlobStoreKind) async throws {
        let (store, cleanup) = try await kind.make()
        defer { cleanup() }
        let record = Data("{\"boxes\": []}")
        _ = try await store.put(record)
        // A store either keeps no list (nil: only its flush will do) or lists the blob it has not synced.
        if let unsynced = store.unsyncedSmallBlobs() {
            #expect(unsynced.contains(JournaledBlob(record)))
            try await store.flush()
            #expect(store.unsyncedSmallBlobs() == [])
        } else {
            try await store.flush()
            #expect(store.unsyncedSmallBlobs() == nil)
        }
    }

    @Test(arguments: BlobStoreKind.testable)
    func putThenGetReturnsTheSameBytesUnderTheirSHA256(kind: BlobStoreKind) async throws {
        let (store, cleanup) = try await kind.make()
        defer { cleanup() }
        let bytes = Data("a camera frame")
        let written = try await store.put(bytes)
        #expect(written.hash == BlobHash(of: bytes))
        #expect(written.hash.hex == "be271649530a5666770884d5c87ef045ca73557b08e0889e6131b0e490e0991e")
        #expect(written.size == Int64(bytes.count))
        #expect(written.stored)
        #expect(try await store.get(written.hash) == bytes)
        #expect(try await store.contains(written.hash))
    }

    @Test(arguments: BlobStoreKind.testable)
    func puttingExistingBytesStoresNothingNew(kind: BlobStoreKind) async throws {
        let (store, cleanup) = try await kind.make()
        defer { cleanup() }
        let first = try await store.put(Data("same"))
        let second = try await store.put(Data("same"))
        #expect(first.stored)
        #expect(!second.stored)
        #expect(first.hash == second.hash)
        var listed: [BlobInfo] = []
        for try await info in store.list() { listed.append(info) }
        #expect(listed.map(\.hash) == [first.hash])
    }

    @Test(arguments: BlobStoreKind.testable)
    func aSpooledFileIsTakenAsTheBlobAndIsGoneAfterwardsStoredOrNot(kind: BlobStoreKind) async throws {
        let (store, cleanup) = try await kind.make()
        defer { cleanup() }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("spool-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let bytes = Data((0..<300_000).map { UInt8($0 % 253) })
        // Only a store that keeps the file itself, on this disk, has it written out early (as the upload route).
        #expect(store.takesFilesInPlace == (kind == .fileSystem || kind == .fileSystemJournaling))
        func spool(_ name: String) throws -> (SpoolFile, BlobHash) {
            let file = try SpoolFile(in: folder, name: name)
            // In uneven chunks, as a body arrives.
            for start in stride(from: 0, to: bytes.count, by: 65_537) {
                try bytes[start..<min(start + 65_537, bytes.count)].withUnsafeBytes { try file.append($0) }
            }
            return (file, try file.finish(startingWriteback: store.takesFilesInPlace))
        }
        let (first, hash) = try spool("a")
        #expect(hash == BlobHash(of: bytes) && first.size == Int64(bytes.count))
        let stored = try await store.put(movingFile: first.url, hash: hash, size: first.size)
        #expect(stored == BlobWrite(hash: hash, size: Int64(bytes.count), stored: true))
        #expect(!FileManager.default.fileExists(atPath: first.url.path))
        #expect(try await store.get(hash) == bytes)
        // The same bytes again: nothing new is stored, and the spool file is removed all the same.
        let (second, _) = try spool("b")
        #expect(try await !store.put(movingFile: second.url, hash: hash, size: second.size).stored)
        #expect(!FileManager.default.fileExists(atPath: second.url.path))
        // A spool given up is removed.
        let (third, _) = try spool("c")
        third.discard()
        #expect(!FileManager.default.fileExists(atPath: third.url.path))
    }

    @Test(arguments: BlobStoreKind.testable)
    func concurrentPutsOfTheSameBytesLeaveOneWholeBlob(kind: BlobStoreKind) async throws {
        let (store, cleanup) = try await kind.make()
        defer { cleanup() }
        let bytes = Data((0..<100_000).map { UInt8($0 % 251) })
        let results = try await withThrowingTaskGroup(of: BlobWrite.self) { group in
            for _ in 0..<16 { group.addTask { try await store.put(bytes) } }
            return try await group.reduce(into: [BlobWrite]()) { $0.append($1) }
        }
        #expect(Set(results.map(\.hash)).count == 1)
        #expect(try await store.get(results[0].hash) == bytes)
        var count = 0
        for try await _ in store.list() { count += 1 }
        #expect(count == 1)
    }

    @Test(arguments: BlobStoreKind.testable)
    func gettingAMissingBlobIsABlobNotFoundError(kind: BlobStoreKind) async throws {
        let (store, cleanup) = try await kind.make()
        defer { cleanup() }
        let absent = BlobHash(of: Data("never stored"))
        #expect(try await !store.contains(absent))
        let error = await #expect(throws: VigilError.self) { try await store.get(absent) }
        #expect(error?.code == .blobNotFound)
        #expect(error?.value == absent.hex)
    }

    @Test(arguments: BlobStoreKind.testable)
    func emptyAndLargeBlobsRoundTrip(kind: BlobStoreKind) async throws {
        let (store, cleanup) = try await kind.make()
        defer { cleanup() }
        let empty = try await store.put(Data())
        #expect(try await store.get(empty.hash) == Data())
        var generator = SeededGenerator(seed: 7)
        let large = generator.bytes(9 << 20)
        let written = try await store.put(large)
        #expect(try await store.get(written.hash) == large)
    }

    @Test(arguments: BlobStoreKind.testable)
    func puttingAFileMatchesPuttingItsBytes(kind: BlobStoreKind) async throws {
        let (store, cleanup) = try await kind.make()
        defer { cleanup() }
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        var generator = SeededGenerator(seed: 11)
        // Small files are read whole; files over 8 MiB stream through a temporary file.
        for size in [0, 50_000, (8 << 20) + 12_345] {
            let bytes = generator.bytes(size)
            let file = folder.url.appendingPathComponent("f\(size)")
            try bytes.write(to: file)
            let fromFile = try await store.put(contentsOf: file)
            #expect(fromFile.hash == BlobHash(of: bytes))
            #expect(fromFile.size == Int64(size))
            #expect(fromFile.stored)
            #expect(try await !store.put(contentsOf: file).stored)
            #expect(try await store.get(fromFile.hash) == bytes)
        }
    }

    @Test(arguments: BlobStoreKind.testable)
    func deleteRemovesOnlyBlobsNotFreshenedSinceTheCutoff(kind: BlobStoreKind) async throws {
        let (store, cleanup) = try await kind.make()
        defer { cleanup() }
        let old = try await store.put(Data("old"))
        let cutoff = Date().addingTimeInterval(60)
        #expect(try await store.delete(old.hash, ifNotModifiedSince: cutoff))
        #expect(try await !store.contains(old.hash))
        #expect(try await !store.delete(old.hash, ifNotModifiedSince: cutoff))

        // Re-putting existing bytes freshens them: a gc whose cut-off is before that keeps the blob.
        let reused = try await store.put(Data("reused"))
        let gcCutoff = Date()
        try await Task.sleep(for: .milliseconds(20))
        #expect(try await !store.put(Data("reused")).stored)
        #expect(try await !store.delete(reused.hash, ifNotModifiedSince: gcCutoff))
        #expect(try await store.get(reused.hash) == Data("reused"))
    }

    @Test(arguments: BlobStoreKind.testable)
    func listReportsEveryBlobWithItsSize(kind: BlobStoreKind) async throws {
        let (store, cleanup) = try await kind.make()
        defer { cleanup() }
        var expected: [BlobHash: Int64] = [:]
        for index in 0..<600 {
            let written = try await store.put(Data("blob \(index) " + String(repeating: "x", count: index)))
            expected[written.hash] = written.size
        }
        try await store.flush()
        var listed: [BlobHash: Int64] = [:]
        for try await info in store.list() { listed[info.hash] = info.size }
        #expect(listed == expected)
    }
}
