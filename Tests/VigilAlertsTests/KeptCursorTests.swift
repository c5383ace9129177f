import Foundation
import Testing
import VigilStages
import VigilStore

@testable import VigilAlerts

/// The notifier keeps the cursor where its own ingest moved it instead of reading it on every pass, and reads
/// it again once another notifier may have moved it: no alert is lost or added twice either way.
@Suite("Notifier: the cursor kept between passes")
struct KeptCursorTests {
    @Test func theCursorIsReadOnceAndKeptWhereEachIngestMovedIt() async throws {
        let store = try makeStore()
        let database = WatchedAlertStore(try SQLiteAlertStore())
        // Nothing is sent: only ingested.
        let transport = try transport(URL(string: "http://127.0.0.1:9/v1/alerts")!)
        let notifier = try Notifier(
            store: store, database: database, transport: transport, configuration: fastConfiguration(),
            logger: quiet)

        let first = try await commitThreats([try threatRecord(device: "frontdoor")], to: store)
        try await notifier.ingest(published: first)
        let second = try await commitThreats([try threatRecord(device: "garage")], to: store)
        try await notifier.ingest(published: second)
        // Told of nothing in particular: the branch is read, the cursor is not.
        let third = try await commitThreats([try threatRecord(device: "yard")], to: store)
        try await notifier.ingest()

        #expect(database.cursorReads == 1)
        #expect(try await database.cursor(of: "threats") == third.id)
        #expect(try await database.alerts().map(\.device).sorted() == ["frontdoor", "garage", "yard"])
        await transport.shutdown()
    }

    @Test func aCursorAnotherNotifierMovedIsReadAgainAndEveryAlertIsAddedOnce() async throws {
        let store = try makeStore()
        let shared = try SQLiteAlertStore()
        let (mine, theirs) = (WatchedAlertStore(shared), WatchedAlertStore(shared))
        let transport = try transport(URL(string: "http://127.0.0.1:9/v1/alerts")!)
        // No change feed between them: neither hears of the other's ingests.
        let notifier = try Notifier(
            store: store, database: mine, transport: transport, configuration: fastConfiguration(), logger: quiet)
        let other = try Notifier(
            store: store, database: theirs, transport: transport, configuration: fastConfiguration(), logger: quiet)

        let first = try await commitThreats([try threatRecord(device: "frontdoor")], to: store)
        try await notifier.ingest(published: first)
        let second = try await commitThreats([try threatRecord(device: "garage")], to: store)
        try await other.ingest(published: second)
        #expect(try await shared.cursor(of: "threats") == second.id)

        // This notifier's kept cursor is now behind: it ingests from there (the garage's alert is not added
        // again), and its move fails, so the cursor stays where the other put it.
        let third = try await commitThreats([try threatRecord(device: "yard")], to: store)
        try await notifier.ingest(published: third)
        #expect(try await shared.alerts().map(\.device).sorted() == ["frontdoor", "garage", "yard"])
        #expect(try await shared.cursor(of: "threats") == second.id)
        #expect(mine.cursorReads == 1)

        // Its next pass reads the cursor again, adds nothing, and moves it to the head.
        try await notifier.ingest()
        #expect(mine.cursorReads == 2)
        #expect(try await shared.cursor(of: "threats") == third.id)
        #expect(try await shared.alerts().count == 3)
        #expect(try await shared.pendingCount() == 3)
        await transport.shutdown()
    }
}
