import Foundation
import Testing
import VigilAlertSink
import VigilAlerts
import VigilStages
import VigilStore

/// Escalation on an injected clock: ten minutes pass at a call, and the real sink sees who is told when.
@Suite("Escalation")
struct EscalationTests {
    @Test func theNextContactIsToldWhenNobodyAcknowledgesInTime() async throws {
        let store = try makeStore()
        let clock = ManualClock()
        let contacts = ["Ana Lee", "Bo Chen", "Cy Diaz"]
        let acknowledged = try threatRecord(device: "frontdoor", contacts: contacts, acknowledgeWithin: 600)
        let ignored = try threatRecord(device: "garage", contacts: contacts, acknowledgeWithin: 600)
        let database = try SQLiteAlertStore()
        try await withSink { sink, url in
            let transport = try transport(url)
            let notifier = try Notifier(
                store: store, database: database, transport: transport, configuration: fastConfiguration(),
                clock: clock, logger: quiet)
            func told(_ record: ThreatRecord) -> [String] {
                sink.received.filter { $0.alert.device == record.device }.sorted {
                    $0.alert.escalation.level < $1.alert.escalation.level
                }
                .map(\.alert.contact.name)
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await notifier.run() }
                try await commitThreats([acknowledged, ignored], to: store)
                #expect(await eventually { told(acknowledged) == ["Ana Lee"] && told(ignored) == ["Ana Lee"] })
                #expect(
                    await eventually {
                        (try? await database.alerts().allSatisfy {
                            $0.escalateAt == clock.now().addingTimeInterval(600)
                        })
                            == true
                    })

                // Just before the wait ends: nobody else is told.
                clock.advance(by: 599)
                try await Task.sleep(for: .milliseconds(200))
                #expect(told(acknowledged) == ["Ana Lee"] && told(ignored) == ["Ana Lee"])

                // The wait ends: the second contact of each alert is told.
                clock.advance(by: 2)
                #expect(
                    await eventually {
                        told(acknowledged) == ["Ana Lee", "Bo Chen"] && told(ignored) == ["Ana Lee", "Bo Chen"]
                    })
                let second = try #require(sink.received.first { $0.alert.escalation.level == 1 }).alert
                #expect(second.escalation.contacts == 3)
                #expect(second.idempotencyKey == AlertInfo.idempotencyKey(alert: second.alertId, level: 1))

                // Bo acknowledges the front door: its third contact is never told; the garage escalates to Cy.
                _ = try await database.acknowledge(AlertInfo.id(for: acknowledged), by: "Bo Chen", at: clock.now())
                #expect(await eventually { (try? await database.nextDue(after: clock.now())) != nil })
                clock.advance(by: 601)
                #expect(await eventually { told(ignored) == ["Ana Lee", "Bo Chen", "Cy Diaz"] })
                #expect(told(acknowledged) == ["Ana Lee", "Bo Chen"])

                // Cy does not answer either: the garage alert ends unacknowledged, and nobody is told again.
                #expect(await eventually { (try? await database.nextDue(after: clock.now())) != nil })
                clock.advance(by: 601)
                #expect(
                    await eventually {
                        (try? await database.alert(AlertInfo.id(for: ignored)).0.state) == .unacknowledged
                    })
                notifier.stopGracefully()
                try await group.waitForAll()
            }
            await transport.shutdown()
            #expect(sink.received.count == 5)
            let (front, frontDeliveries) = try await database.alert(AlertInfo.id(for: acknowledged))
            #expect(front.state == .acknowledged && front.acknowledgedBy == "Bo Chen")
            #expect(frontDeliveries.map(\.contact) == ["Ana Lee", "Bo Chen"])
            #expect(frontDeliveries.allSatisfy { $0.state == .delivered })
            // An acknowledged alert cannot be acknowledged again.
            await #expect(throws: AlertError.self) {
                try await database.acknowledge(front.id, by: "Ana Lee", at: clock.now())
            }
        }
    }

    @Test func acknowledgingBeforeDeliveryCancelsIt() async throws {
        let store = try makeStore()
        let record = try threatRecord()
        let commit = try await commitThreats([record], to: store)
        let database = try SQLiteAlertStore()
        try await database.ingest(
            [(record, "threats@\(commit.id):\(record.imagePath).json")], repo: "threats", from: nil, to: commit.id,
            now: Date()
        )
        _ = try await database.acknowledge(AlertInfo.id(for: record), by: "Ana Lee", at: Date())
        try await withSink { sink, url in
            let transport = try transport(url)
            let notifier = try Notifier(
                store: store, database: database, transport: transport, configuration: fastConfiguration(),
                logger: quiet)
            try await notifier.runUntilIdle()
            await transport.shutdown()
            #expect(sink.received.isEmpty)
            #expect(try await database.alert(AlertInfo.id(for: record)).1.map(\.state) == [.cancelled])
        }
    }

    @Test func anAcknowledgementWhileTheRequestIsOutStillRecordsTheDelivery() async throws {
        let store = try makeStore()
        let record = try threatRecord()
        try await commitThreats([record], to: store)
        let database = try SQLiteAlertStore()
        try await withSink(behaviour: .init(delayMs: 500, delayNext: 1)) { sink, url in
            let transport = try transport(url, timeout: 20)
            let notifier = try Notifier(
                store: store, database: database, transport: transport, configuration: fastConfiguration(),
                logger: quiet)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await notifier.runUntilIdle() }
                #expect(await eventually { sink.stats.delayed == 1 })
                _ = try await database.acknowledge(AlertInfo.id(for: record), by: "Ana Lee", at: Date())
                try await group.waitForAll()
            }
            await transport.shutdown()
            let (alert, deliveries) = try await database.alert(AlertInfo.id(for: record))
            #expect(alert.state == .acknowledged && alert.escalateAt == nil)
            #expect(deliveries.map(\.state) == [.delivered])
            #expect(sink.received.count == 1)
        }
    }
}
