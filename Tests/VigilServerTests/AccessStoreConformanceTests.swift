import Foundation
import Logging
import ServerTestSupport
import Testing
import VigilAccess
import VigilServer
import VigilStore

/// One suite, run against every `AccessStore` implementation: a new implementation joins `AccessStoreKind`.
enum AccessStoreKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqliteFile
    case sqliteMemory
    /// `PostgresAccessStore` on a real PostgreSQL (a fresh database per test), when Debian's server is there
    /// or on CI.
    case postgres

    var testDescription: String { rawValue }

    static let testable: [AccessStoreKind] = PostgresServer.canRun ? allCases : [.sqliteFile, .sqliteMemory]
    static let shareable = testable.filter { $0 != .sqliteMemory }
    static let logger = Logger(label: "access-store-test") { _ in SwiftLogNoOpLogHandler() }

    /// Runs `body` with a fresh, empty store and, where the kind allows, a second one on the same database (as
    /// another API process would open it).
    func withStores(_ body: @Sendable (any AccessStore, (any AccessStore)?) async throws -> Void) async throws {
        switch self {
        case .sqliteFile:
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("access-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: folder) }
            let path = folder.appendingPathComponent("access.sqlite").path
            try await body(try AccessDatabase(path: path), try AccessDatabase(path: path))
        case .sqliteMemory:
            try await body(try AccessDatabase(), nil)
        case .postgres:
            let server = try await PostgresServer.shared()
            try await server.withDatabase(schemas: [PostgresAccessStore.schema], logger: Self.logger) { database in
                try await PostgresServer.withClient(
                    database.location, environment: server.environment, logger: Self.logger
                ) { other in
                    try await body(PostgresAccessStore(database: database), PostgresAccessStore(database: other))
                }
            }
        }
    }
}

@Suite("AccessStore conformance")
struct AccessStoreConformanceTests {
    @Test(arguments: AccessStoreKind.testable)
    func tokensAuthenticateUntilRevokedAndNeverShowTheirSecret(kind: AccessStoreKind) async throws {
        try await kind.withStores { store, _ in
            let now = Date(timeIntervalSince1970: 1_700_000_000)
            let (token, info) = try await store.createToken(name: "acme", role: .customer, customer: "acme", at: now)
            let device = try await store.createToken(name: "cam", role: .device, device: "frontdoor", at: now)
            let principal = try await store.authenticate(token)
            #expect(principal.tokenID == info.id && principal.role == .customer && principal.customer == "acme")
            #expect(try await store.authenticate(device.token).device == "frontdoor")
            #expect(try await store.tokens() == [info, device.info])

            // A right id with a wrong secret, a malformed token and a revoked one are all refused.
            let forged = "vgl_\(info.id)_" + String(repeating: "0", count: 64)
            for bad in [forged, "hunter2", "vgl_short_x"] {
                let refused = await #expect(throws: AccessError.self) { try await store.authenticate(bad) }
                #expect(refused?.code == .unauthenticated)
            }
            let wrongRole = await #expect(throws: AccessError.self) {
                try await store.createToken(name: "x", role: .customer, at: now)
            }
            #expect(wrongRole?.code == .badToken)
            try await store.revoke(info.id, at: now.addingTimeInterval(60))
            let revoked = await #expect(throws: AccessError.self) { try await store.authenticate(token) }
            #expect(revoked?.message.contains("revoked") == true)
            #expect(try await store.tokens().first?.revoked == now.addingTimeInterval(60))
            let again = await #expect(throws: AccessError.self) { try await store.revoke(info.id, at: now) }
            #expect(again?.code == .tokenNotFound)
        }
    }

    @Test(arguments: AccessStoreKind.testable)
    func aTokenWithAnExpiryWorksUntilThenAndNotAfter(kind: AccessStoreKind) async throws {
        try await kind.withStores { store, other in
            let now = Date(timeIntervalSince1970: 1_700_000_000)
            let until = now.addingTimeInterval(3_600)
            let (token, info) = try await store.createToken(
                name: "installer", role: .operator, expires: until, at: now)
            let forever = try await store.createToken(name: "ops", role: .operator, at: now)
            #expect(info.expires == until && forever.info.expires == nil)
            // Every process sharing the store sees the same expiry.
            for reader in [store] + (other.map { [$0] } ?? []) {
                #expect(try await reader.tokens().map(\.expires) == [until, nil])
                #expect(try await reader.authenticate(token, at: until.addingTimeInterval(-1)).tokenID == info.id)
                let expired = await #expect(throws: AccessError.self) {
                    try await reader.authenticate(token, at: until)
                }
                #expect(expired?.code == .unauthenticated && expired?.message.contains("expired") == true)
                #expect(try await reader.authenticate(forever.token, at: until.addingTimeInterval(1e9)).name == "ops")
            }
            let past = await #expect(throws: AccessError.self) {
                try await store.createToken(name: "x", role: .admin, expires: now, at: now)
            }
            #expect(past?.code == .badToken)
        }
    }

    @Test(arguments: AccessStoreKind.testable)
    func theAuditLogListsNewestFirstByTokenAndTime(kind: AccessStoreKind) async throws {
        try await kind.withStores { store, _ in
            for index in 0..<6 {
                try await store.record(
                    AuditEntry(
                        time: Date(timeIntervalSince1970: 1_000 + Double(index)), tokenID: index % 2 == 0 ? "a" : "b",
                        principal: "p\(index)", role: "admin", action: "GET /v1/stats", target: nil,
                        status: 200, detail: index == 5 ? "last" : nil))
            }
            let all = try await store.audit()
            #expect(all.map(\.principal) == ["p5", "p4", "p3", "p2", "p1", "p0"])
            #expect(all.first?.detail == "last")
            #expect(try await store.audit(token: "a").map(\.principal) == ["p4", "p2", "p0"])
            #expect(
                try await store.audit(token: nil, since: Date(timeIntervalSince1970: 1_004), limit: 10).map(\.principal)
                    == ["p5", "p4"])
            #expect(try await store.audit(token: nil, since: nil, limit: 2).count == 2)
        }
    }

    @Test(arguments: AccessStoreKind.testable)
    func entriesRecordedAtOnceAreAllKeptEachOnce(kind: AccessStoreKind) async throws {
        try await kind.withStores { store, _ in
            // As 32 requests finishing together would record them: they share writes, none is lost or doubled.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<32 {
                    group.addTask {
                        try await store.record(
                            AuditEntry(
                                time: Date(timeIntervalSince1970: 1_000 + Double(index)), tokenID: "t",
                                principal: "p\(index)", role: "device", action: "PUT /v1/images/x", target: nil,
                                status: 201, detail: nil))
                    }
                }
                try await group.waitForAll()
            }
            let principals = try await store.audit(token: "t", since: nil, limit: 100).map(\.principal)
            #expect(principals.sorted() == (0..<32).map { "p\($0)" }.sorted())
        }
    }

    @Test(arguments: AccessStoreKind.testable)
    func pruningDeletesOnlyEntriesPastRetentionOldestFirstInBatches(kind: AccessStoreKind) async throws {
        try await kind.withStores { store, _ in
            // Recorded out of time order, as several servers would: pruning goes by time, not by sequence.
            for time in [1_005.0, 1_001, 1_003, 1_000, 1_004, 1_002] {
                try await store.record(
                    AuditEntry(
                        time: Date(timeIntervalSince1970: time), tokenID: "a", principal: "p\(Int(time) - 1_000)",
                        role: "admin", action: "GET /v1/stats", target: nil, status: 200, detail: nil))
            }
            let cutoff = Date(timeIntervalSince1970: 1_004)
            #expect(try await store.pruneAudit(before: cutoff, limit: 2) == 2)
            #expect(Set(try await store.audit().map(\.principal)) == ["p2", "p3", "p4", "p5"])
            #expect(try await store.pruneAudit(before: cutoff, limit: 10) == 2)
            #expect(try await store.pruneAudit(before: cutoff, limit: 10) == 0)
            // Newest first by sequence: p4 was recorded after p5.
            #expect(try await store.audit().map(\.principal) == ["p4", "p5"])
            // The service's pass: everything past a retention of 3 s at 1,008.
            let retention = AuditRetention(access: store, retention: 3, logger: quiet)
            #expect(try await retention.prune(now: Date(timeIntervalSince1970: 1_008)) == 1)
            #expect(try await store.audit().map(\.principal) == ["p5"])
        }
    }

    @Test(arguments: AccessStoreKind.shareable)
    func aTokenMadeThroughOneProcessWorksAtTheOtherAndARevocationReachesIt(kind: AccessStoreKind) async throws {
        try await kind.withStores { first, second in
            let other = try #require(second)
            let (token, info) = try await first.createToken(name: "ops", role: .operator, at: Date())
            #expect(try await other.authenticate(token).role == .operator)
            try await other.revoke(info.id, at: Date())
            await #expect(throws: AccessError.self) { try await first.authenticate(token) }
        }
    }
}
