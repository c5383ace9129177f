import Foundation
import Testing

@testable import VigilStore

/// The journal of small blobs kept in a commit's head transaction (`BlobJournal`), on the metadata stores that
/// have one, and the store around it: what is journaled, what a barrier lets go, what a power cut's losses are
/// written back from, and what an erasure leaves.
@Suite("Blob journal")
struct BlobJournalTests {
    /// PostgreSQL keeps no journal: its blobs live in object storage, where a put is durable when it returns.
    static let journaling: [MetadataStoreKind] = [.sqliteFile, .sqliteMemory]

    private static func commit(_ id: String, parent: String?) -> CommitInfo {
        CommitInfo(
            id: id, repo: "detect", branch: "master", parent: parent,
            tree: TreeRoot(hash: BlobHash(of: Data(id)), size: 1, files: 1), author: "test", message: id,
            provenance: Provenance(), started: Date(), finished: Date())
    }

    @Test(arguments: journaling)
    func aJournalHoldsBytesOnlyWithTheCommitsThatLandAndForgetsByPosition(kind: MetadataStoreKind) async throws {
        try await kind.withStore { store in
            let journal = try #require(store.blobJournal)
            try await store.createRepo(RepoInfo(name: "detect", created: Date()), defaultBranch: "master")
            #expect(try await journal.journalPosition() == 0)
            let first = [JournaledBlob(Data("record one")), JournaledBlob(Data("node one"))]

            // A head that moved: nothing recorded, the bytes neither.
            let moved = try await journal.append(
                together: [CommitAppendRequest(Self.commit("c1", parent: nil), expectedHead: "elsewhere")],
                journaling: first)
            #expect(moved == .headMoved(nil))
            #expect(try await journal.journalPosition() == 0)

            #expect(
                try await journal.append(
                    together: [CommitAppendRequest(Self.commit("c1", parent: nil), expectedHead: nil)],
                    journaling: first) == .appended)
            #expect(try await store.branch("master", in: "detect")?.head == "c1")
            let afterFirst = try await journal.journalPosition()
            #expect(try await journal.journaledBlobs(upTo: afterFirst) == first)

            let second = [JournaledBlob(Data("record two"))]
            #expect(
                try await journal.append(
                    together: [CommitAppendRequest(Self.commit("c2", parent: "c1"), expectedHead: "c1")],
                    journaling: second) == .appended)
            let afterSecond = try await journal.journalPosition()
            #expect(afterSecond > afterFirst)

            // Forgetting up to a position keeps what came after it.
            try await journal.forgetJournal(upTo: afterFirst)
            #expect(try await journal.journaledBlobs(upTo: afterSecond) == second)
            try await journal.forgetJournal(upTo: afterSecond)
            #expect(try await journal.journaledBlobs(upTo: .max).isEmpty)

            // Positions never go back, even with the journal empty: a cut read before a barrier cannot cover a
            // row written after it.
            #expect(
                try await journal.append(
                    together: [CommitAppendRequest(Self.commit("c3", parent: "c2"), expectedHead: "c2")],
                    journaling: [JournaledBlob(Data("record three")), JournaledBlob(Data("record two"))])
                    == .appended)
            #expect(try await journal.journalPosition() > afterSecond)

            // An erasure's hashes go wherever they are.
            try await journal.forgetJournaled([BlobHash(of: Data("record two"))])
            #expect(try await journal.journaledBlobs(upTo: .max) == [JournaledBlob(Data("record three"))])

            // Once an erasure has named a blob, no commit journals its bytes again: refused whole, heads unmoved.
            let erased = Data("record four, erased")
            try await store.recordErasure(
                ErasureInfo(id: "e1", time: Date(), requester: "test", reason: "test", selection: "cam9"),
                entries: [ErasedEntry(repo: "detect", path: "cam9/1.json", hash: BlobHash(of: erased), size: 19)])
            let refused = try await journal.append(
                together: [CommitAppendRequest(Self.commit("c4", parent: "c3"), expectedHead: "c3")],
                journaling: [JournaledBlob(Data("record five")), JournaledBlob(erased)])
            #expect(refused == nil)
            #expect(try await store.branch("master", in: "detect")?.head == "c3")
            #expect(try await journal.journaledBlobs(upTo: .max) == [JournaledBlob(Data("record three"))])
        }
    }

    @Test func unsyncedBlobsAreJournalableUntilABarrierThatBeganAfterThemEnds() {
        let unsynced = UnsyncedBlobs(blobLimit: 16, totalLimit: 40)
        #expect(unsynced.journal() == [])
        let one = Data("small one"), two = Data("small two")
        unsynced.wrote(BlobHash(of: one), bytes: one)
        let mark = unsynced.mark()
        unsynced.wrote(BlobHash(of: two), bytes: two)
        #expect(Set(unsynced.journal() ?? []) == [JournaledBlob(one), JournaledBlob(two)])
        // A barrier that began between the two covers only the first.
        unsynced.synced(upTo: mark)
        #expect(unsynced.journal() == [JournaledBlob(two)])

        // Once a commit's transaction journaled it, a blob is durable: the next commit does not carry it again.
        #expect(unsynced.journaled([BlobHash(of: two)], batch: 2) == false)
        #expect(unsynced.journal() == [])
        // One background barrier per batch journaled: the second blob completes a batch of two, then counting
        // starts afresh.
        #expect(unsynced.journaled([BlobHash(of: one)], batch: 2) == true)
        #expect(unsynced.journaled([BlobHash(of: one)], batch: 2) == false)

        // A blob over the limit, or any file only a barrier makes durable, stops journaling until a barrier
        // that began after it has ended.
        unsynced.wrote(BlobHash(of: Data("more than sixteen bytes")), bytes: Data("more than sixteen bytes"))
        #expect(unsynced.journal() == nil)
        let before = unsynced.mark()
        unsynced.wroteUnjournaled()
        unsynced.synced(upTo: before)
        #expect(unsynced.journal() == nil)
        unsynced.synced(upTo: unsynced.mark())
        #expect(unsynced.journal() == [])

        // Too many bytes waiting: a barrier instead.
        for index in 0..<6 {
            let bytes = Data("blob \(index) ..")
            unsynced.wrote(BlobHash(of: bytes), bytes: bytes)
        }
        #expect(unsynced.journal() == nil)
        unsynced.synced(upTo: unsynced.mark())
        #expect(unsynced.journal() == [])
    }

    /// Opens the embedded store in `folder`: blobs as files, metadata in SQLite.
    private static func open(_ folder: TemporaryFolder, create: Bool = false) async throws -> VersionedStore {
        try await VersionedStore.open(home: folder.url, create: create, logger: .test)
    }

    /// Creates the embedded store in `folder` with one repo, and hands back its journal too.
    private static func create(
        _ folder: TemporaryFolder, repo: String
    ) async throws -> (VersionedStore, any BlobJournal) {
        let store = try await open(folder, create: true)
        let journal = try #require(store.metadata.blobJournal)
        try await store.createRepo(repo)
        return (store, journal)
    }

    @Test func aCommitOfSmallBlobsJournalsThemAndAStoreOpenedAfterAPowerCutWritesBackWhatWasLost() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let (store, journal) = try await Self.create(folder, repo: "detect")
        // Whatever creating the repo wrote is made durable by a barrier first, so the journal holds this commit's.
        try await store.blobs.flush()
        let records = (0..<5).map { Data("{\"frame\": \($0), \"boxes\": []}") }
        let writer = try await store.openCommit(repo: "detect")
        for (index, record) in records.enumerated() { try await writer.put("cam1/\(index).json", data: record) }
        let commit = try await writer.finish(message: "records")

        let journaled = try await journal.journaledBlobs(upTo: .max)
        let journaledHashes = Set(journaled.map(\.hash))
        #expect(journaledHashes.isSuperset(of: records.map { BlobHash(of: $0) }))
        #expect(journaledHashes.contains(commit.tree.hash))
        // Journaled once: the next commit carries only what it wrote itself.
        #expect(store.blobs.unsyncedSmallBlobs() == [])
        let next = try await store.openCommit(repo: "detect")
        try await next.put("cam1/5.json", data: Data("{\"frame\": 5}"))
        _ = try await next.finish(message: "one more")
        let again = try await journal.journaledBlobs(upTo: .max).dropFirst(journaled.count)
        #expect(again.contains(JournaledBlob(Data("{\"frame\": 5}"))))
        #expect(Set(again.map(\.hash)).isDisjoint(with: records.map { BlobHash(of: $0) }))

        // A power cut: the files were never synced. One is gone, another is there but empty.
        let blobs = try #require(store.blobs as? FileSystemBlobStore)
        let lost = BlobHash(of: records[0]), torn = BlobHash(of: records[1])
        #expect(unlink(blobs.path(of: lost)) == 0)
        #expect(truncate(blobs.path(of: torn), 0) == 0)
        #expect(unlink(blobs.path(of: commit.tree.hash)) == 0)

        let reopened = try await Self.open(folder)
        for (index, record) in records.enumerated() {
            #expect(try await reopened.read(Address(repo: "detect", path: "cam1/\(index).json")) == record)
        }
        #expect(try await reopened.metadata.blobJournal?.journaledBlobs(upTo: .max).isEmpty == true)
        let check = try await reopened.check()
        #expect(check.problems.isEmpty)
    }

    @Test func aCommitWithALargeBlobWaitsForTheBarrierAndJournalsNothing() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let (store, journal) = try await Self.create(folder, repo: "images")
        try await store.blobs.flush()
        var generator = SeededGenerator(seed: 7)
        let writer = try await store.openCommit(repo: "images")
        try await writer.put("cam1/frame.jpg", data: generator.bytes(200_000))
        try await writer.put("cam1/frame.json", data: Data("{}"))
        _ = try await writer.finish(message: "a frame")
        #expect(try await journal.journalPosition() == 0)
        // The barrier covered everything: the next commit of small blobs journals only its own.
        let next = try await store.openCommit(repo: "images")
        try await next.put("cam1/other.json", data: Data("{\"other\": true}"))
        let commit = try await next.finish(message: "small")
        let hashes = Set(try await journal.journaledBlobs(upTo: .max).map(\.hash))
        #expect(hashes.contains(BlobHash(of: Data("{\"other\": true}"))))
        #expect(hashes.contains(commit.tree.hash))
        #expect(!hashes.contains(BlobHash(of: Data("{}"))))
    }

    @Test func aProcessWhoseCommitsAreAllSmallStillDropsItsJournalNowAndThen() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let (store, journal) = try await Self.create(folder, repo: "detect")
        var rows: [Int64] = []
        for index in 0..<200 {
            let writer = try await store.openCommit(repo: "detect")
            try await writer.put("cam1/\(index).json", data: Data("{\"frame\": \(index)}"))
            _ = try await writer.finish(message: "record \(index)")
            rows.append(Int64(try await journal.journaledBlobs(upTo: .max).count))
        }
        // Every commit journals a few rows; a barrier of its own comes after 128 and drops them.
        let most = try #require(rows.max())
        #expect(most >= Int64(VersionedStore.journalRowsBeforeBarrier))
        #expect(most < Int64(VersionedStore.journalRowsBeforeBarrier + 64))
        #expect(rows.last! < most)
        for index in [0, 199] {
            #expect(
                try await store.read(Address(repo: "detect", path: "cam1/\(index).json"))
                    == Data("{\"frame\": \(index)}"))
        }
    }
}
