import Foundation
import ServerTestSupport
import Synchronization
import Testing
import VigilStore

@Suite("Change feed")
struct ChangeFeedTests {
    @Test(arguments: [Change.repo("images"), .pipeline("detect"), .alerts])
    func aChangeSurvivesItsPayload(change: Change) {
        #expect(Change(payload: change.payload) == change)
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
        let server = try await PostgresServer.shared()
        try await server.withDatabase(schemas: [PostgresMetadataStore.schema], logger: .test) { database in
            let store = PostgresMetadataStore(database: database)
            let seen = Seen()
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
                try await store.createRepo(RepoInfo(name: "images", created: Date()), defaultBranch: "master")
                _ = try await store.setBranch("dev", in: "images", head: nil, expected: .absent)
                for _ in 0..<500 where seen.changes.withLock({ $0.count < 2 }) {
                    try await Task.sleep(for: .milliseconds(10))
                }
                group.cancelAll()
            }
            let changes = seen.changes.withLock { $0 }
            #expect(changes.first == .unknown)
            #expect(changes.dropFirst().allSatisfy { $0 == .repo("images") } && changes.count == 2, "\(changes)")
        }
    }
}

/// What a watcher heard, shared with the test.
private final class Seen: Sendable {
    let changes = Mutex<[Change]>([])
}
