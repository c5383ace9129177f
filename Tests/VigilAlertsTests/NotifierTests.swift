import Foundation
import Testing
import VigilAlertSink
import VigilAlerts
import VigilStages
import VigilStore

@Suite("Notifier delivery")
struct NotifierTests {
    @Test func deliversEachThreatOnceToTheFirstContactSignedAndComplete() async throws {
        let store = try makeStore()
        let records = try [
            threatRecord(device: "frontdoor", time: 1_763_800_000),
            threatRecord(device: "garage", time: 1_763_800_060, contacts: ["Bo Chen", "Ana Lee"]),
            threatRecord(device: "frontdoor", time: 1_763_800_120),
        ]
        let commit = try await commitThreats(records, to: store)
        try await withSink { sink, url in
            let database = try SQLiteAlertStore()
            let transport = try transport(url)
            let notifier = try Notifier(
                store: store, database: database, transport: transport, configuration: fastConfiguration(),
                logger: quiet)
            try await notifier.runUntilIdle()
            await transport.shutdown()

            let received = sink.received.sorted { $0.alert.time < $1.alert.time }
            #expect(received.count == 3)
            #expect(sink.stats.duplicates == 0 && sink.stats.badSignatures == 0)
            #expect(Set(received.map(\.idempotencyKey)).count == 3)
            let first = try #require(received.first).alert
            #expect(first.idempotencyKey == AlertInfo.idempotencyKey(alert: AlertInfo.id(for: records[0]), level: 0))
            #expect(first.contact.name == "Ana Lee" && first.contact.email == "ana@acme.example")
            #expect(first.escalation == AlertPayload.Escalation(level: 0, contacts: 2, acknowledgeWithin: 600))
            #expect(first.customer.id == "acme" && first.device == "frontdoor" && first.time == 1_763_800_000)
            #expect(first.labels.map(\.label) == ["person"])
            #expect(first.image.address == "threats@\(commit.id):/frontdoor/frontdoor-1763800000.jpg")
            #expect(first.threat == "threats@\(commit.id):/frontdoor/frontdoor-1763800000.jpg.json")
            #expect(
                first.message
                    == "Person (92%, ×2) seen by camera frontdoor of Acme Storage Ltd at 08:26 on 2025-11-22 (local time)."
            )
            #expect(received[1].alert.contact.name == "Bo Chen")

            let alerts = try await database.alerts()
            #expect(alerts.count == 3 && alerts.allSatisfy { $0.state == .open && $0.escalateAt != nil })
            let (_, deliveries) = try await database.alert(alerts[0].id)
            #expect(deliveries.map(\.state) == [.delivered])
            #expect(deliveries[0].attempts == 1)
            #expect(try await database.cursor(of: "threats") == commit.id)
        }
    }

    @Test func everyAlertArrivesOnceThroughFailuresTimeOutsAndAnOpenCircuit() async throws {
        let store = try makeStore()
        let first = try (0..<8).map { try threatRecord(device: "cam\($0)", time: 1_763_800_000 + Int64($0)) }
        let second = try (0..<4).map { try threatRecord(device: "late\($0)", time: 1_763_900_000 + Int64($0)) }
        try await withSink(behaviour: .init(failNext: 7, failStatus: 503)) { sink, url in
            let database = try SQLiteAlertStore()
            let transport = try transport(url, timeout: 0.5)
            let notifier = try Notifier(
                store: store, database: database, transport: transport, configuration: fastConfiguration(),
                logger: quiet)
            // Phase 1: the API answers 503 seven times (the breaker, at 3 failures, opens in between).
            try await commitThreats(first, to: store)
            try await notifier.runUntilIdle()
            #expect(sink.stats.injectedFailures == 7)
            #expect(notifier.breaker.openings >= 1)
            // Phase 2: the API is slow: two requests outlive the client's 0.5 s, yet the sink keeps them after
            // 1.5 s; the retries carry the same keys, and whichever copy comes second is recognised.
            sink.behaviour = .init(delayMs: 1_500, delayNext: 2)
            try await commitThreats(second, to: store)
            try await notifier.runUntilIdle()
            var deliveries: [DeliveryInfo] = []
            for alert in try await database.alerts() { deliveries.append(try await database.alert(alert.id).1[0]) }
            let attempts = deliveries.map(\.attempts).reduce(0, +)
            // Every attempt reached the sink and was refused, stored or dropped as a repeat (the slow ones end
            // on the server after the client gave up: wait for them).
            #expect(
                await eventually {
                    sink.stats.injectedFailures + sink.stats.received + sink.stats.duplicates == attempts
                })
            await transport.shutdown()

            let expected = Set(
                (first + second).map { AlertInfo.idempotencyKey(alert: AlertInfo.id(for: $0), level: 0) })
            #expect(sink.received.count == 12)
            #expect(Set(sink.received.map(\.idempotencyKey)) == expected)
            #expect(sink.stats.delayed == 2 && sink.stats.duplicates >= 2)
            #expect(deliveries.allSatisfy { $0.state == .delivered })
            // At least every failure and every time-out cost one more attempt.
            #expect(attempts >= 12 + 7 + 2)
            #expect(deliveries.contains { $0.attempts > 1 })
        }
    }

    @Test func aRefusedAlertGoesToTheDeadLetterListAndARetryDeliversIt() async throws {
        let store = try makeStore()
        let record = try threatRecord()
        try await commitThreats([record], to: store)
        try await withSink(behaviour: .init(failNext: 1, failStatus: 422)) { sink, url in
            let database = try SQLiteAlertStore()
            let transport = try transport(url)
            let notifier = try Notifier(
                store: store, database: database, transport: transport, configuration: fastConfiguration(),
                logger: quiet)
            try await notifier.runUntilIdle()
            let id = AlertInfo.id(for: record)
            var (alert, deliveries) = try await database.alert(id)
            #expect(alert.state == .dead)
            #expect(deliveries[0].state == .dead && deliveries[0].attempts == 1 && deliveries[0].lastStatus == 422)
            #expect(deliveries[0].lastError?.hasPrefix("refused: HTTP 422") == true)
            #expect(try await database.alerts(.init(state: .dead)).map(\.id) == [id])
            #expect(sink.received.isEmpty)
            // Retrying a live alert is refused; a dead one goes again, afresh.
            _ = try await database.retry(String(id.prefix(6)), at: Date())
            await #expect(throws: AlertError.self) { try await database.retry(id, at: Date()) }
            try await notifier.runUntilIdle()
            (alert, deliveries) = try await database.alert(id)
            #expect(alert.state == .open && deliveries[0].state == .delivered && deliveries[0].attempts == 1)
            #expect(sink.received.map(\.idempotencyKey) == [AlertInfo.idempotencyKey(alert: id, level: 0)])
            await transport.shutdown()
        }
    }

    @Test func aDeliveryFailingPastTheHorizonExpiresWithTheLastError() async throws {
        let store = try makeStore()
        let clock = ManualClock()
        try await commitThreats([try threatRecord(contacts: ["Ana Lee"])], to: store)
        try await withSink(behaviour: .init(failStatus: 500, failRate: 1)) { sink, url in
            let database = try SQLiteAlertStore()
            let transport = try transport(url)
            let notifier = try Notifier(
                store: store, database: database, transport: transport, configuration: fastConfiguration(horizon: 600),
                clock: clock, logger: quiet)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await notifier.run() }
                // Ten minutes pass, ten seconds at a time: every attempt fails, none of them ends the alert.
                for _ in 0..<59 {
                    clock.advance(by: 10)
                    try await Task.sleep(for: .milliseconds(15))
                }
                #expect(try await database.counts()[.dead] == nil)
                // Past the horizon it expires at its next attempt (time keeps passing for the breaker's timer).
                #expect(
                    await eventually {
                        clock.advance(by: 1)
                        return (try? await database.counts()[.dead]) == 1
                    })
                notifier.stopGracefully()
                try await group.waitForAll()
            }
            await transport.shutdown()
            let delivery = try await database.alert(try #require(database.alerts().first).id).1[0]
            #expect(delivery.state == .dead && delivery.lastStatus == 500 && delivery.attempts > 1)
            #expect(delivery.lastError?.hasPrefix("expired: not delivered within 600 s") == true)
            #expect(delivery.lastError?.contains("HTTP 500") == true)
            #expect(sink.received.isEmpty)
        }
    }

    /// The issue's case: the alert API answers 503 for an hour. Nothing dies, escalation goes on meanwhile,
    /// and once it answers again every delivery arrives exactly once.
    @Test func anHourLongOutageDelaysAlertsAndLosesNone() async throws {
        let store = try makeStore()
        let clock = ManualClock()
        let records = try (0..<3).map {
            try threatRecord(
                device: "cam\($0)", time: 1_763_800_000 + Int64($0), contacts: ["Ana Lee", "Bo Chen"],
                acknowledgeWithin: 1800)
        }
        try await withSink(behaviour: .init(failStatus: 503, failRate: 1)) { sink, url in
            let database = try SQLiteAlertStore()
            let transport = try transport(url)
            var configuration = NotifierConfiguration()
            configuration.breakerThreshold = 3
            configuration.breakerCoolDown = 10
            let notifier = try Notifier(
                store: store, database: database, transport: transport, configuration: configuration, clock: clock,
                logger: quiet)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await notifier.run() }
                try await commitThreats(records, to: store)
                #expect(await eventually { sink.stats.injectedFailures >= 3 })
                for _ in 0..<360 {
                    clock.advance(by: 10)
                    try await Task.sleep(for: .milliseconds(10))
                }
                // Far more failed attempts than the old budget of 12, and nothing on the dead-letter list.
                #expect(sink.stats.injectedFailures > 12)
                #expect(try await database.counts()[.dead] == nil)
                // Escalation kept time: the second contact's deliveries wait too.
                #expect(try await database.pendingCount() == 6)

                // The API answers again: the breaker's next probe (within its 10 s cool-down, as time goes on)
                // succeeds, and everything that waited goes at once.
                sink.behaviour = .init()
                #expect(
                    await eventually {
                        clock.advance(by: 1)
                        return sink.received.count == 6
                    })
                #expect(await eventually { (try? await database.pendingCount()) == 0 })
                notifier.stopGracefully()
                try await group.waitForAll()
            }
            await transport.shutdown()
            #expect(sink.received.count == 6)
            #expect(Set(sink.received.map(\.idempotencyKey)).count == 6)
            #expect(sink.stats.duplicates == 0)
            #expect(try await database.counts()[.dead] == nil)
            for alert in try await database.alerts() {
                #expect(try await database.alert(alert.id).1.allSatisfy { $0.state == .delivered })
            }
        }
    }

    /// A database from before the retry horizon holds an alert given up after 12 attempts: the notifier of
    /// this version tries it again, and it arrives once.
    @Test func anAlertAnOlderVigilGaveUpForAnOutageIsDeliveredAfterTheUpgrade() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-alerts-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try makeStore()
        let record = try threatRecord(contacts: ["Ana Lee"])
        let commit = try await commitThreats([record], to: store)
        let id = AlertInfo.id(for: record)
        let now = Date().timeIntervalSince1970
        let body = String(decoding: try record.encoded(), as: UTF8.self).replacingOccurrences(of: "'", with: "''")
        // The schema and rows as version 1 wrote them.
        let sql = """
            CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
            INSERT INTO grdb_migrations VALUES ('v1');
            CREATE TABLE alerts(
                id TEXT PRIMARY KEY, state TEXT NOT NULL, level INTEGER NOT NULL, customer TEXT NOT NULL,
                device TEXT NOT NULL, time INTEGER NOT NULL, threat TEXT NOT NULL, record TEXT NOT NULL,
                acknowledge_within REAL NOT NULL, created REAL NOT NULL, escalate_at REAL, acknowledged REAL,
                acknowledged_by TEXT);
            CREATE INDEX alerts_by_escalation ON alerts(escalate_at) WHERE escalate_at IS NOT NULL;
            CREATE INDEX alerts_by_device_time ON alerts(device, time);
            CREATE INDEX alerts_by_state ON alerts(state);
            CREATE TABLE deliveries(
                alert TEXT NOT NULL, level INTEGER NOT NULL, contact TEXT NOT NULL,
                idempotency_key TEXT NOT NULL UNIQUE, state TEXT NOT NULL, attempts INTEGER NOT NULL,
                next_attempt REAL NOT NULL, last_status INTEGER, last_error TEXT, delivered REAL,
                created REAL NOT NULL, PRIMARY KEY(alert, level));
            CREATE INDEX deliveries_due ON deliveries(next_attempt) WHERE state = 'pending';
            CREATE TABLE cursors(repo TEXT PRIMARY KEY, commit_id TEXT NOT NULL);
            INSERT INTO alerts VALUES ('\(id)', 'dead', 0, 'acme', 'frontdoor', \(record.time),
                'threats@\(commit.id):/frontdoor/frontdoor-\(record.time).jpg.json', '\(body)', 600, \(now - 900),
                NULL, NULL, NULL);
            INSERT INTO deliveries VALUES ('\(id)', 0, 'Ana Lee', '\(AlertInfo.idempotencyKey(alert: id, level: 0))',
                'dead', 12, \(now - 100), 503, 'gave up after 12 attempts: HTTP 503', NULL, \(now - 900));
            INSERT INTO cursors VALUES ('threats', '\(commit.id)');
            """
        let path = folder.appendingPathComponent("alerts.sqlite").path
        let sqlite = Process()
        sqlite.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        sqlite.arguments = [path, sql]
        try sqlite.run()
        sqlite.waitUntilExit()
        try #require(sqlite.terminationStatus == 0)

        try await withSink { sink, url in
            let database = try SQLiteAlertStore(path: path)
            #expect(try await database.counts()[.dead] == 1)
            let transport = try transport(url)
            let notifier = try Notifier(
                store: store, database: database, transport: transport, configuration: fastConfiguration(),
                logger: quiet)
            try await notifier.runUntilIdle()
            await transport.shutdown()
            #expect(sink.received.map(\.idempotencyKey) == [AlertInfo.idempotencyKey(alert: id, level: 0)])
            let (alert, deliveries) = try await database.alert(id)
            #expect(alert.state == .open && deliveries.map(\.state) == [.delivered])
        }
    }

    @Test func reJudgedThreatsAndNewCommitsAlertOnlyForNewImages() async throws {
        let store = try makeStore()
        let record = try threatRecord()
        try await commitThreats([record], to: store)
        try await withSink { sink, url in
            let database = try SQLiteAlertStore()
            let transport = try transport(url)
            let notifier = try Notifier(
                store: store, database: database, transport: transport, configuration: fastConfiguration(),
                logger: quiet)
            try await notifier.runUntilIdle()
            // The same image judged again under new rules (a changed record at the same path), plus a new image.
            var rejudged = record
            rejudged.rules = .init(commit: "newrules", tree: "newtree")
            try await commitThreats([rejudged, try threatRecord(time: 1_763_800_500)], to: store)
            try await notifier.runUntilIdle()
            await transport.shutdown()
            #expect(sink.received.count == 2)
            #expect(sink.stats.duplicates == 0)
            #expect(try await database.alerts().count == 2)
        }
    }

    @Test func aResendAfterACrashIsDroppedByTheReceiver() async throws {
        // What a kill between sending and recording leaves: the receiver has the alert, the database says
        // pending. The restarted notifier sends it again under the same key and the receiver keeps one copy.
        let store = try makeStore()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-alerts-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let record = try threatRecord()
        let commit = try await commitThreats([record], to: store)
        try await withSink { sink, url in
            let path = folder.appendingPathComponent("alerts.sqlite").path
            let before = try SQLiteAlertStore(path: path)
            let alert = try #require(
                try await before.ingest(
                    [(record, "threats@\(commit.id):\(record.imagePath).json")], repo: "threats", from: nil,
                    to: commit.id,
                    now: Date()
                ).first)
            let transport = try transport(url)
            let payload = AlertPayload(
                alert: alert, level: 0,
                image: .init(
                    name: record.image.name, width: 640, height: 480, bytes: record.image.bytes,
                    sha256: record.image.sha256, address: "threats@\(commit.id):\(record.imagePath)"))
            let key = AlertInfo.idempotencyKey(alert: alert.id, level: 0)
            #expect(
                await transport.send(.init(idempotencyKey: key, body: try payload.encoded(), attempt: 1))
                    == .delivered(status: 201))
            // "Restart": a new notifier over the same database file.
            let notifier = try Notifier(
                store: store, database: try SQLiteAlertStore(path: path), transport: transport,
                configuration: fastConfiguration(), logger: quiet)
            try await notifier.runUntilIdle()
            await transport.shutdown()
            #expect(sink.received.map(\.idempotencyKey) == [key])
            #expect(sink.stats.duplicates == 1)
            #expect(try await SQLiteAlertStore(path: path).alert(alert.id).1[0].state == .delivered)
        }
    }

    @Test func aSinkKilledMidLineKeepsEveryWholeAlertInItsJournal() async throws {
        let store = try makeStore()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-sink-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let journal = folder.appendingPathComponent("sink.jsonl")
        let record = try threatRecord()
        let commit = try await commitThreats([record], to: store)
        let alert = try #require(
            try await SQLiteAlertStore(path: folder.appendingPathComponent("alerts.sqlite").path).ingest(
                [(record, "threats@\(commit.id):\(record.imagePath).json")], repo: "threats", from: nil,
                to: commit.id, now: Date()
            ).first)
        let payload = AlertPayload(
            alert: alert, level: 0,
            image: .init(
                name: record.image.name, width: 640, height: 480, bytes: record.image.bytes,
                sha256: record.image.sha256, address: "threats@\(commit.id):\(record.imagePath)"))
        @Sendable func send(_ key: String, to url: URL) async throws {
            var payload = payload
            payload.idempotencyKey = key
            let transport = try transport(url)
            let outcome = await transport.send(.init(idempotencyKey: key, body: try payload.encoded(), attempt: 1))
            await transport.shutdown()
            #expect(outcome == .delivered(status: 201))
        }
        try await withSink(journal: journal) { _, url in try await send("first", to: url) }
        // What a kill in the middle of an append leaves behind.
        let handle = try FileHandle(forWritingTo: journal)
        handle.seekToEndOfFile()
        handle.write(Data(#"{"idempotencyKey":"half"#.utf8))
        try handle.close()
        try await withSink(journal: journal) { sink, url in
            #expect(sink.received.map(\.idempotencyKey) == ["first"])
            try await send("second", to: url)
        }
        let reread = try await withSink(journal: journal) { sink, _ in sink.received.map(\.idempotencyKey) }
        #expect(reread == ["first", "second"])
    }

    @Test func aRunningNotifierDeliversACommitAsItLandsAndStopsGracefully() async throws {
        let store = try makeStore()
        try await withSink { sink, url in
            let transport = try transport(url)
            let notifier = try Notifier(
                store: store, database: try SQLiteAlertStore(), transport: transport,
                configuration: fastConfiguration(),
                logger: quiet)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await notifier.run() }
                try await commitThreats([try threatRecord()], to: store)
                #expect(await eventually { sink.received.count == 1 })
                try await commitThreats([try threatRecord(device: "garage")], to: store)
                #expect(await eventually { sink.received.count == 2 })
                notifier.stopGracefully()
                try await group.waitForAll()
            }
            await transport.shutdown()
        }
    }
}
