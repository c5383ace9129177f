import Foundation
import Testing
import VigilStages
import VigilStore

@testable import VigilAlerts

/// The notifier takes the commit the feed told it of as the head to ingest to (no read of the branch) only
/// when that commit follows its cursor: an older one, or one several commits ahead, sends it to the branch.
@Suite("Notifier: the published commit as the head")
struct PublishedHeadTests {
    @Test func aPublishedCommitIsTheHeadOnlyWhenItFollowsTheCursor() async throws {
        let store = try makeStore()
        let first = try await commitThreats([try threatRecord(device: "frontdoor")], to: store)
        let second = try await commitThreats([try threatRecord(device: "garage")], to: store)
        let database = try SQLiteAlertStore()
        // Nothing is sent: only ingested.
        let transport = try transport(URL(string: "http://127.0.0.1:9/v1/alerts")!)
        let notifier = try Notifier(
            store: store, database: database, transport: transport, configuration: fastConfiguration(),
            logger: quiet)

        // The first commit follows the empty cursor: it is the head, though the branch is further on.
        try await notifier.ingest(published: first)
        #expect(try await database.cursor(of: "threats") == first.id)
        #expect(try await database.alerts().map(\.device) == ["frontdoor"])

        // Told of the first again, now behind the cursor: the branch is read, and its head ingested.
        try await notifier.ingest(published: first)
        #expect(try await database.cursor(of: "threats") == second.id)
        #expect(Set(try await database.alerts().map(\.device)) == ["frontdoor", "garage"])

        // And once more: the cursor stays at the branch's head, never moved back to the older commit.
        try await notifier.ingest(published: first)
        #expect(try await database.cursor(of: "threats") == second.id)
        #expect(try await database.alerts().count == 2)
        await transport.shutdown()
    }
}
