import Foundation
import ServerTestSupport
import Synchronization
import Testing
import VigilStore

/// When a feed reported a change.
final class Changes: Sendable {
    let times = Mutex<[ContinuousClock.Instant]>([])
}

@Suite("Change feed")
struct ChangeFeedTests {
    @Test(arguments: [Change.repo("images"), .pipeline("detect"), .alerts, .erasures])
    func aChangeSurvivesItsPayload(change: Change) {
        #expect(Change(payload: change.payload) == change)
    }

    @Test func theDataFolderReportsABurstOfWritesAtMostOncePerIntervalAndALaterWriteToo() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let file = folder.url.appendingPathComponent("metadata.sqlite-wal")
        #expect(FileManager.default.createFile(atPath: file.path, contents: nil))
        var watcher = FolderChangeFeed(folder: folder.url, files: [file.lastPathComponent])
        watcher.interval = .milliseconds(300)
        let feed = watcher
        let changes = Changes()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await feed.watch { _ in changes.times.withLock { $0.append(.now) } } }
            try await Task.sleep(for: .milliseconds(200))
            // A second of writes, 50 of them, as a busy service makes: reported at most once per interval,
            // however slowly this machine runs them.
            let handle = try FileHandle(forWritingTo: file)
            for _ in 0..<50 {
                try handle.write(contentsOf: Data("x".utf8))
                try await Task.sleep(for: .milliseconds(20))
            }
            try await Task.sleep(for: .milliseconds(700))
            let times = changes.times.withLock { $0 }
            #expect(times.count >= 2, "\(times.count) changes for 50 writes")
            let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
            #expect(gaps.allSatisfy { $0 >= .milliseconds(290) }, "\(gaps)")
            // After a quiet spell, one more write is reported too.
            try handle.write(contentsOf: Data("y".utf8))
            try handle.close()
            var reported = false
            for _ in 0..<500 where !reported {
                try await Task.sleep(for: .milliseconds(10))
                reported = changes.times.withLock { $0.count > times.count }
            }
            #expect(reported)
            group.cancelAll()
        }
    }

    /// This process's own commits are not reported (its services hear of them at once otherwise); another
    /// process's are. The other process here is a second pool on the same file: to SQLite, another writer.
    @Test func theDataFolderReportsAnotherProcesssCommitsButNotItsOwn() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.url.appendingPathComponent("metadata.sqlite").path
        let own = try SQLiteMetadataStore(path: path)
        let other = try SQLiteMetadataStore(path: path)
        var watcher = FolderChangeFeed(folder: folder.url, files: ["metadata.sqlite-wal"]) {
            (try? await own.commitsByOthers()).map { [$0] }
        }
        watcher.interval = .milliseconds(100)
        let feed = watcher
        let changes = Changes()
        func reports() -> Int { changes.times.withLock { $0.count } }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await feed.watch { _ in changes.times.withLock { $0.append(.now) } } }
            try await Task.sleep(for: .milliseconds(200))
            // The first write is reported whoever made it: nothing was seen before it.
            try await own.createRepo(RepoInfo(name: "first", created: Date()), defaultBranch: "master")
            #expect(try await Self.eventually { reports() == 1 }, "\(reports()) reports")
            for index in 0..<5 {
                try await own.createRepo(RepoInfo(name: "own\(index)", created: Date()), defaultBranch: "master")
                try await Task.sleep(for: .milliseconds(150))
            }
            // Past the first two follow-up looks (0.05 and 0.5 s): still only the first report.
            try await Task.sleep(for: .milliseconds(800))
            #expect(reports() == 1, "this process's own commits were reported: \(reports())")
            try await other.createRepo(RepoInfo(name: "theirs", created: Date()), defaultBranch: "master")
            #expect(try await Self.eventually { reports() == 2 }, "another process's commit was not reported")
            group.cancelAll()
        }
    }

    /// The kernel reports another process's write as its pages reach the log, which can be before its commit is
    /// complete: a write that looked like this process's own is looked at again a while later.
    @Test func aCommitCompletedAfterItsWriteWasSeenIsReportedByALaterLook() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let file = folder.url.appendingPathComponent("metadata.sqlite-wal")
        #expect(FileManager.default.createFile(atPath: file.path, contents: nil))
        let count = Mutex(0)
        var watcher = FolderChangeFeed(folder: folder.url, files: [file.lastPathComponent]) {
            [count.withLock { $0 }]
        }
        watcher.interval = .milliseconds(100)
        watcher.followUps = [.milliseconds(300), .milliseconds(600)]
        let feed = watcher
        let changes = Changes()
        func reports() -> Int { changes.times.withLock { $0.count } }
        let handle = try FileHandle(forWritingTo: file)
        defer { try? handle.close() }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await feed.watch { _ in changes.times.withLock { $0.append(.now) } } }
            try await Task.sleep(for: .milliseconds(200))
            try handle.write(contentsOf: Data("first".utf8))
            #expect(try await Self.eventually { reports() == 1 })
            // Written with the count unchanged (the commit not complete yet); it moves once the write was seen,
            // with no write after it.
            try handle.write(contentsOf: Data("pages".utf8))
            try await Task.sleep(for: .milliseconds(150))
            #expect(reports() == 1)
            count.withLock { $0 += 1 }
            #expect(try await Self.eventually { reports() == 2 }, "the completed commit was never reported")
            group.cancelAll()
        }
    }

    /// Whether `condition` held within 10 seconds.
    static func eventually(_ condition: () -> Bool) async throws -> Bool {
        for _ in 0..<1_000 where !condition() { try await Task.sleep(for: .milliseconds(10)) }
        return condition()
    }

    @Test func anUnknownPayloadMeansLookEverywhere() {
        #expect(Change(payload: "") == .unknown)
        #expect(Change(payload: "images") == .unknown)
        #expect(Change(payload: "branch:master") == .unknown)
    }

    /// A branch moved on one connection reaches a watcher on another as the repo it changed, after the catch-up
    /// that every (re)connect starts with.
    @Test(.enabled(if: PostgresServer.canRun, "\(PostgresServer.skipReason)"))
    func aBranchMovedOnPostgresArrivesAsItsRepo() async throws {
        let changes = try await Self.heardOnPostgres(until: { $0.count >= 2 }) { store in
            try await store.createRepo(RepoInfo(name: "images", created: Date()), defaultBranch: "master")
            _ = try await store.setBranch("dev", in: "images", head: nil, expected: .absent)
        }
        #expect(changes == [.unknown, .repo("images")], "\(changes)")
    }

    /// An erasure recorded on one connection reaches a watcher on another as `erasures`: processes holding
    /// decoded frames drop them (`ErasureWatch`).
    @Test(.enabled(if: PostgresServer.canRun, "\(PostgresServer.skipReason)"))
    func anErasureOnPostgresArrivesAsErasures() async throws {
        let changes = try await Self.heardOnPostgres(until: { $0.contains(.erasures) }) { store in
            try await store.recordErasure(
                ErasureInfo(id: "e1", time: Date(), requester: "ops", reason: "left", selection: "--device d"),
                entries: [])
        }
        #expect(changes == [.unknown, .erasures])
    }

    /// What a watcher on a fresh database heard: its catch-up, then what `write` (on another connection) sent,
    /// until `done` (or 5 seconds).
    static func heardOnPostgres(
        until done: @escaping @Sendable ([Change]) -> Bool,
        _ write: @Sendable (PostgresMetadataStore) async throws -> Void
    ) async throws -> [Change] {
        let server = try await PostgresServer.shared()
        let seen = Seen()
        try await server.withDatabase(schemas: [PostgresMetadataStore.schema], logger: .test) { database in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    await PostgresChangeFeed(database: database).watch { change in
                        seen.changes.withLock { $0.append(change) }
                    }
                }
                for _ in 0..<500 where seen.changes.withLock({ $0.isEmpty }) {
                    try await Task.sleep(for: .milliseconds(10))
                }
                #expect(seen.changes.withLock { $0 } == [.unknown])
                try await write(PostgresMetadataStore(database: database))
                for _ in 0..<500 where !seen.changes.withLock({ done($0) }) {
                    try await Task.sleep(for: .milliseconds(10))
                }
                group.cancelAll()
            }
        }
        return seen.changes.withLock { $0 }
    }
}

/// What a watcher heard, shared with the test.
private final class Seen: Sendable {
    let changes = Mutex<[Change]>([])
}
