import Foundation
import ServerTestSupport
import Testing
import VigilStore

/// Where an erasure is tried: every way blobs and metadata are kept.
enum ErasureBackend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    /// Blobs in the data folder, metadata in SQLite: the embedded default.
    case folder
    /// Blobs in an S3 bucket (SeaweedFS), metadata in SQLite.
    case s3
    /// Blobs in the folder, metadata in PostgreSQL.
    case postgres

    var testDescription: String { rawValue }

    static let testable = allCases.filter {
        switch $0 {
        case .folder: true
        case .s3: SeaweedServer.canRun
        case .postgres: PostgresServer.canRun
        }
    }

    /// Runs `body` with a new store of this kind, and a way to read every stored byte there is: each file under
    /// the data folder and, on S3, each object in the bucket.
    func withStore(
        _ body:
            @Sendable (VersionedStore, _ everyStoredFile: @Sendable () async throws -> [(String, Data)]) async throws
            -> Void
    ) async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        @Sendable func localFiles() throws -> [(String, Data)] {
            var files: [(String, Data)] = []
            let walk = FileManager.default.enumerator(at: folder.url, includingPropertiesForKeys: nil)
            while let file = walk?.nextObject() as? URL {
                if let data = try? Data(contentsOf: file) { files.append((file.path, data)) }
            }
            return files
        }
        switch self {
        case .folder:
            try await body(try await VersionedStore.open(home: folder.url, create: true, logger: .test)) {
                try localFiles()
            }
        case .s3:
            let server = try await SeaweedServer.shared()
            let bucket = try await server.makeBucket(logger: .test)
            let settings = StoreConfiguration(
                store: "s3://\(bucket.bucket)/vigil", s3Endpoint: server.endpoint.absoluteString,
                s3Region: "us-east-1")
            let store = try await VersionedStore.open(
                home: folder.url, create: true, configuration: settings, environment: server.environment,
                logger: .test)
            let client = S3Client(configuration: bucket, logger: .test)
            try await body(store) {
                var files = try localFiles()
                for try await object in client.listObjects(prefix: "") {
                    if let data = try await client.getObject(object.key) { files.append(("s3://" + object.key, data)) }
                }
                return files
            }
        case .postgres:
            let server = try await PostgresServer.shared()
            try await server.withDatabase(schemas: [PostgresMetadataStore.schema], logger: .test) { database in
                let store = try await VersionedStore.open(
                    home: folder.url, create: true, metadata: PostgresMetadataStore(database: database),
                    logger: .test)
                try await body(store) { try localFiles() }
            }
        }
    }
}

/// `VersionedStore.erase`: bytes gone for good from every commit, history as it was, the erasure beside it.
@Suite("Erasing files from all history")
struct ErasureTests {
    static let cam1 = ErasureSelection("--device cam1") { _, path in
        path.split(separator: "/").last?.hasPrefix("cam1-") == true
    }

    /// Two cameras over three commits of `images`, the frames copied to `validate` (the same blobs, as the
    /// validate stage does), a record per frame in `detect`; cam2's second frame is cam1's first, byte for byte.
    static func history(_ store: VersionedStore) async throws -> [String: Data] {
        let frames: [String: Data] = [
            "/cam1-100.jpg": Data("pixels of a living room at 100"),
            "/cam1-200.jpg": Data("pixels of a living room at 200"),
            "/cam2-100.jpg": Data("pixels of a garden at 100"),
            "/cam2-300.jpg": Data("pixels of a living room at 100"),
        ]
        for repo in ["images", "validate", "detect"] { _ = try await store.createRepo(repo) }
        for batch in [["/cam1-100.jpg", "/cam2-100.jpg"], ["/cam1-200.jpg"], ["/cam2-300.jpg"]] {
            let images = try await store.openCommit(repo: "images")
            let validate = try await store.openCommit(repo: "validate")
            let detect = try await store.openCommit(repo: "detect")
            for path in batch {
                let written = try await images.put(path, data: frames[path]!)
                try await validate.set("/valid" + path, to: .file(written.hash, size: written.size))
                let device = String(path.dropFirst().prefix { $0 != "-" })
                try await detect.put("/\(device)\(path).json", data: Data("{\"image\": \"\(path)\"}"))
            }
            for writer in [images, validate, detect] { try await writer.finish() }
        }
        return frames
    }

    @Test(arguments: ErasureBackend.testable)
    func aCamerasFramesGoFromEveryCommitAndHistoryStaysAsItWas(backend: ErasureBackend) async throws {
        try await backend.withStore { store, everyStoredFile in
            try await Self.eraseCam1(store, everyStoredFile: everyStoredFile)
        }
    }

    static func eraseCam1(
        _ store: VersionedStore, everyStoredFile: @Sendable () async throws -> [(String, Data)]
    ) async throws {
        let frames = try await Self.history(store)
        let before = try await store.metadata.allCommits(in: nil)

        let dry = try await store.planErasure(Self.cam1)
        #expect(dry.entries.count == 6)  // two frames in images and validate, two detection records
        #expect(dry.removed.count == 3 && dry.kept.count == 1)  // cam1-100's bytes are cam2-300's too
        #expect(try await store.metadata.erasures().isEmpty)

        let report = try await store.erase(Self.cam1, requester: "ops (operator)", reason: "customer left")
        #expect(report.blobsDeleted == 3)
        let summary = ErasureSummary(plan: report.plan, report: report)
        #expect(summary.blobs == 3 && summary.bytes == dry.removedBytes)
        #expect(report.headCommits.map(\.repo).sorted() == ["detect", "images", "validate"])

        // Every commit that was there is there unchanged: ids, trees, provenance.
        let after = try await store.metadata.allCommits(in: nil)
        #expect(Array(after.prefix(before.count)) == before)
        // Reading an erased file, at any commit, fails with the reason.
        let first = try #require(before.first { $0.repo == "images" })
        let erased = await #expect(throws: VigilError.self) {
            try await store.read(Address(repo: "images", ref: first.id, path: "/cam1-100.jpg"))
        }
        #expect(erased?.code == .erased && erased?.message.contains("customer left") == true)
        // The same bytes stay for the other camera's frame, and still fail through the erased one.
        #expect(try await store.read(Address(repo: "images", path: "/cam2-300.jpg")) == frames["/cam1-100.jpg"])
        let shared = await #expect(throws: VigilError.self) {
            try await store.read(
                Address(repo: "validate", ref: before.last { $0.repo == "validate" }?.id, path: "/valid/cam1-100.jpg"))
        }
        #expect(shared?.code == .erased)
        // The heads no longer list cam1's files.
        for repo in ["images", "validate", "detect"] {
            let head = try #require(try await store.resolveCommit(repo, ref: nil))
            #expect(try await snapshot(store, head.tree).keys.allSatisfy { !$0.contains("cam1-") }, "\(repo)")
        }
        // No byte of cam1's own frame is left anywhere: the data folder, and the bucket on S3.
        let secret = Data("pixels of a living room at 200")
        let stored = try await everyStoredFile()
        #expect(stored.count > 3)
        for (place, data) in stored { #expect(data.range(of: secret) == nil, "\(place)") }
        // The check can find them: the bytes cam1 shares with cam2 are still stored.
        #expect(stored.contains { $0.1.range(of: Data("pixels of a living room at 100")) != nil })
        // fsck: erased entries are erased, not corruption.
        let check = try await store.check()
        #expect(check.isClean, "\(check.problems)")
        #expect(check.erased == 3)
        // Again: nothing more to delete, nothing broken.
        let again = try await store.erase(Self.cam1, requester: "ops (operator)", reason: "checking")
        #expect(again.blobsDeleted == 0 && again.headCommits.isEmpty)
        // It takes the same files again, but says it deleted nothing (their blobs were gone).
        let againSummary = ErasureSummary(plan: again.plan, report: again)
        #expect(againSummary.files == 6 && againSummary.blobs == 0 && againSummary.bytes == 0)
        #expect(try await store.metadata.erasures().map(\.entries) == [0, 6])
    }

    /// A job that linked a frame into its output before the erasure and commits after it: the commit lands, but
    /// the bytes do not come back, and the entry reads as erased.
    @Test func aJobCommittingAfterTheErasureDoesNotBringTheBytesBack() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let store = try await VersionedStore.open(home: folder.url, create: true, logger: .test)
        _ = try await Self.history(store)
        let frame = try await store.entry(at: Address(repo: "images", path: "/cam1-200.jpg")).entry
        let job = try await store.openCommit(repo: "validate")
        try await job.set("/late/cam1-200.jpg", to: .file(frame.hash, size: frame.size))
        _ = try await store.erase(Self.cam1, requester: "ops", reason: "customer left")
        let landed = try await job.finish(message: "a job that started before the erasure")
        #expect(try await !store.blobs.contains(frame.hash))
        let error = await #expect(throws: VigilError.self) {
            try await store.read(Address(repo: "validate", ref: landed.id, path: "/late/cam1-200.jpg"))
        }
        #expect(error?.code == .erased)
        #expect(try await store.check().erased >= 1)
    }

    @Test func anErasureNeedsAReason() async throws {
        let store = try makeMemoryStore()
        _ = try await Self.history(store)
        let error = await #expect(throws: VigilError.self) {
            try await store.erase(Self.cam1, requester: "ops", reason: "  ")
        }
        #expect(error?.code == .badArgument)
        #expect(try await store.metadata.erasures().isEmpty)
    }
}
