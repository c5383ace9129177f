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
