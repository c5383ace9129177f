import Foundation
import ServerTestSupport
import Testing
import VigilStore

/// One suite, run against every `IngestLedger` implementation: a new implementation joins `IngestLedgerKind`.
enum IngestLedgerKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqliteFile
    case sqliteMemory
    /// `PostgresIngestLedger` on a real PostgreSQL (a fresh database per test).
    case postgres

    var testDescription: String { rawValue }

    static let testable: [IngestLedgerKind] = PostgresServer.canRun ? allCases : [.sqliteFile, .sqliteMemory]
    static let shareable = testable.filter { $0 != .sqliteMemory }

    /// Runs `body` with a fresh, empty ledger and, where the kind allows, a second one on the same database.
    func withLedgers(_ body: @Sendable (any IngestLedger, (any IngestLedger)?) async throws -> Void) async throws {
        switch self {
        case .sqliteFile:
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ledger-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: folder) }
            let path = folder.appendingPathComponent("ledger.sqlite").path
            try await body(try SQLiteIngestLedger(path: path), try SQLiteIngestLedger(path: path))
        case .sqliteMemory:
            try await body(try SQLiteIngestLedger(), nil)
        case .postgres:
            let server = try await PostgresServer.shared()
            try await server.withDatabase(schemas: [PostgresIngestLedger.schema], logger: .test) { database in
                try await PostgresServer.withClient(
                    database.location, environment: server.environment, logger: .test
                ) { other in
                    try await body(PostgresIngestLedger(database: database), PostgresIngestLedger(database: other))
                }
            }
        }
    }
}

private func entry(_ text: String, size: Int64 = 10) -> IngestLedgerEntry {
    IngestLedgerEntry(etag: "\"\(text)\"", size: size, hash: BlobHash(of: Data(text.utf8)))
}

@Suite("IngestLedger conformance")
struct IngestLedgerConformanceTests {
    @Test(arguments: IngestLedgerKind.testable)
    func entriesAreRecordedReplacedAndFoundByPrefix(kind: IngestLedgerKind) async throws {
        try await kind.withLedgers { ledger, _ in
            #expect(try await ledger.entries(under: "s3://uploads/").isEmpty)
            try await ledger.record([
                "s3://uploads/site-a/cam1-1.jpg": entry("a1"), "s3://uploads/site-a/cam1-2.jpg": entry("a2"),
                "s3://uploads/site-ab/cam2-1.jpg": entry("ab"), "s3://other/site-a/x.jpg": entry("o"),
            ])
            try await ledger.record([:])
            #expect(
                try await ledger.entries(under: "s3://uploads/site-a/")
                    == ["s3://uploads/site-a/cam1-1.jpg": entry("a1"), "s3://uploads/site-a/cam1-2.jpg": entry("a2")])
            #expect(try await ledger.entries(under: "s3://uploads/").count == 3)
            // An object fetched again (its ETag changed) replaces its entry.
            try await ledger.record(["s3://uploads/site-a/cam1-1.jpg": entry("a1-new", size: 20)])
            #expect(
                try await ledger.entries(under: "s3://uploads/site-a/")["s3://uploads/site-a/cam1-1.jpg"]
                    == entry("a1-new", size: 20))
            // Keys with characters past ASCII sort inside their prefix.
            try await ledger.record(["s3://uploads/site-a/café-ü.jpg": entry("u")])
            #expect(try await ledger.entries(under: "s3://uploads/site-a/").count == 3)
        }
    }

    @Test(arguments: IngestLedgerKind.shareable)
    func hostsSharingTheLedgerSeeEachOthersEntries(kind: IngestLedgerKind) async throws {
        try await kind.withLedgers { first, second in
            let other = try #require(second)
            let batch = Dictionary(
                uniqueKeysWithValues: (0..<2_000).map { ("s3://uploads/cam-\($0).jpg", entry("\($0)")) })
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await first.record(batch) }
                group.addTask { try await other.record(["s3://uploads/late.jpg": entry("late")]) }
                try await group.waitForAll()
            }
            let seen = try await other.entries(under: "s3://uploads/")
            #expect(seen.count == 2_001)
            #expect(seen["s3://uploads/cam-1999.jpg"] == entry("1999"))
        }
    }
}
