import Foundation
import Testing
import VigilAlertSink
import VigilAlerts
import VigilStages
import VigilStore

@Suite("Notifier: new alerts claimed as they are ingested")
struct ClaimOnIngestTests {
    /// A new alert's first delivery is claimed in the transaction that adds it and sent from there, as many as
    /// the notifier's concurrency allows; the rest wait for the pass's `claimDue`, which hands out each once.
    @Test func newAlertsGoOutClaimedAtIngestUpToTheConcurrencyAndTheRestThroughClaimDue() async throws {
        let store = try makeStore()
        let records = try (0..<5).map { try threatRecord(device: "cam\($0)", time: 1_763_800_000 + Int64($0)) }
        try await commitThreats(records, to: store)
        try await withSink { sink, url in
            let database = WatchedAlertStore(try SQLiteAlertStore())
            let transport = try transport(url)
            var configuration = fastConfiguration()
            configuration.concurrency = 3
            let notifier = try Notifier(
                store: store, database: database, transport: transport, configuration: configuration, logger: quiet)
            try await notifier.runUntilIdle()
            await transport.shutdown()

            let keys = records.map { AlertInfo.idempotencyKey(alert: AlertInfo.id(for: $0), level: 0) }
            #expect(sink.received.count == 5 && sink.stats.duplicates == 0)
            #expect(Set(sink.received.map(\.idempotencyKey)) == Set(keys))
            // Three went out from ingest; claimDue handed out the other two, and none of the three.
            let fromClaimDue = database.claimedByClaimDue
            #expect(fromClaimDue.count == 2 && Set(fromClaimDue).count == 2)
            #expect(Set(fromClaimDue).isSubset(of: Set(keys)))
            for alert in try await database.alerts() {
                #expect(try await database.alert(alert.id).1.map(\.state) == [.delivered])
            }
        }
    }
}
