import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing
import VigilAlerts
import VigilServer
import VigilStages
import VigilStore

/// Retention per customer on an injected clock, and legal holds that keep evidence past it.
@Suite("Retention and legal holds")
struct RetentionTests {
    /// acme keeps images and alerts 30 days; smiths has no retention (kept until erased).
    static let rules = ServerFixture.rules.replacingOccurrences(
        of: "    devices: [frontdoor]\n",
        with: "    devices: [frontdoor]\n    retention: {images: 30d, alerts: 30d}\n")
    static let frameTime: Int64 = 1_763_800_000
    static let day = 86_400.0

    static func time(daysAfterFrame days: Double) -> Date {
        Date(timeIntervalSince1970: Double(frameTime) + days * day)
    }

    /// The fixture with acme's retention in the rules, a second frontdoor frame, and both alerts acknowledged.
    static func fixture() async throws -> ServerFixture {
        let fixture = try await ServerFixture()
        let store = fixture.environment.store
        try await ServerFixture.commit(["/customers.yaml": Data(rules.utf8)], to: "rules", in: store)
        try await ServerFixture.commit(
            ["/frontdoor-1763800100.jpg": ServerFixture.jpeg + Data([1])], to: "images", in: store)
        for id in fixture.alertIDs.values {
            _ = try await fixture.environment.alerts.acknowledge(id, by: "Ana Lee", at: time(daysAfterFrame: 0))
        }
        return fixture
    }

    static func runner(_ fixture: ServerFixture) -> RetentionRunner {
        RetentionRunner(
            store: fixture.environment.store, alerts: fixture.environment.alerts, access: fixture.environment.access,
            configuration: fixture.environment.configuration, logger: quiet)
    }

    static func holds(_ fixture: ServerFixture) -> LegalHoldBook {
        LegalHoldBook(store: fixture.environment.store, repo: fixture.environment.configuration.holdsRepo)
    }

    static func exists(_ fixture: ServerFixture, _ repo: String, _ path: String) async throws -> Bool {
        do {
            _ = try await fixture.environment.store.read(Address(repo: repo, path: path))
            return true
        } catch let error as VigilError where error.code == .pathNotFound {
            return false
        }
    }

    @Test func aCustomersFramesAndAlertsGoWhenTheirRetentionEnds() async throws {
        let fixture = try await Self.fixture()
        defer { fixture.remove() }
        let runner = Self.runner(fixture)
        // Ten days on, nothing is past 30 days.
        let early = try await runner.run(now: Self.time(daysAfterFrame: 10), requester: "test")
        #expect(early.files == 0 && early.alertsForgotten == 0 && early.erasure == nil)
        #expect(early.customers.map(\.customer) == ["acme"])

        // A dry run forty days on says what would go, and changes nothing.
        let dry = try await runner.run(now: Self.time(daysAfterFrame: 40), dryRun: true, requester: "test")
        #expect(dry.files == 4 && dry.alertsForgotten == 1 && dry.erasure == nil)
        #expect(try await Self.exists(fixture, "images", "/frontdoor-1763800000.jpg"))

        let late = try await runner.run(now: Self.time(daysAfterFrame: 40), requester: "test")
        // frontdoor's two uploads, its detection and its threat record; smiths' garage keeps everything.
        #expect(late.files == 4 && late.customers.first?.files == 4, "\(late)")
        #expect(late.alertsForgotten == 1)
        let erasure = try #require(late.erasure)
        for (repo, path) in [
            ("images", "/frontdoor-1763800000.jpg"), ("images", "/frontdoor-1763800100.jpg"),
            ("detect", "/frontdoor/frontdoor-1763800000.jpg.json"),
            ("threats", "/frontdoor/frontdoor-1763800000.jpg.json"),
        ] {
            #expect(try await !Self.exists(fixture, repo, path), "\(repo):\(path)")
        }
        #expect(try await Self.exists(fixture, "images", "/garage-1763800000.jpg"))
        // Through history the bytes answer `erased`, with retention as the reason.
        let history = try await fixture.environment.store.log("images")
        let first = try #require(history.last)
        let error = await #expect(throws: VigilError.self) {
            _ = try await fixture.environment.store.read(
                Address(repo: "images", ref: first.id, path: "/frontdoor-1763800000.jpg"))
        }
        #expect(error?.code == .erased && error?.message.contains("retention") == true)
        // acme's alert is forgotten, smiths' kept.
        #expect(try await fixture.environment.alerts.alerts().map(\.customer) == ["smiths"])
        // In the audit log, once.
        let audit = try await fixture.environment.access.audit(limit: 10).filter { $0.action == "RETENTION" }
        #expect(audit.count == 1 && audit.first?.target == "erasure \(erasure.id)")

        // Running again finds nothing new.
        let again = try await runner.run(now: Self.time(daysAfterFrame: 41), requester: "test")
        #expect(again.files == 0 && again.alertsForgotten == 0 && again.erasure == nil)
        #expect(try await fixture.environment.access.audit(limit: 10).filter { $0.action == "RETENTION" }.count == 1)
    }

    @Test func aDeviceOnHoldKeepsItsFramesAndAlertsUntilReleased() async throws {
        let fixture = try await Self.fixture()
        defer { fixture.remove() }
        let holds = Self.holds(fixture)
        let hold = try await holds.place(device: "frontdoor", reason: "claim 2291 (insurer)", by: "ops")
        #expect(try await holds.active() == [hold])

        let held = try await Self.runner(fixture).run(now: Self.time(daysAfterFrame: 40), requester: "test")
        #expect(held.files == 0 && held.alertsForgotten == 0 && held.activeHolds == 1)
        #expect(held.customers.first?.alertsKept == 1)
        #expect(try await Self.exists(fixture, "images", "/frontdoor-1763800000.jpg"))

        // Erasure is refused too, over the API, naming the hold.
        try await fixture.test { client in
            try await client.execute(
                uri: "/v1/erasures", method: .post, headers: fixture.headers("admin"),
                body: ByteBuffer(string: #"{"devices": ["frontdoor"], "reason": "customer asked"}"#)
            ) { response in
                #expect(response.status == .conflict)
                #expect(response.errorCode == "held")
            }
        }

        let released = try await holds.release(String(hold.id.prefix(6)), reason: "claim settled", by: "ops")
        #expect(released.releasedBy == "ops" && released.releaseReason == "claim settled")
        #expect(try await holds.active().isEmpty)
        // The released hold stays on record; releasing it again is refused.
        #expect(try await holds.all().map(\.id) == [hold.id])
        let twice = await #expect(throws: VigilError.self) {
            _ = try await holds.release(hold.id, reason: "again", by: "ops")
        }
        #expect(twice?.code == .holdReleased)

        let after = try await Self.runner(fixture).run(now: Self.time(daysAfterFrame: 40), requester: "test")
        #expect(after.files == 4 && after.alertsForgotten == 1)
    }

    @Test func anAlertOnHoldKeepsItsFrameAndRecordOnly() async throws {
        let fixture = try await Self.fixture()
        defer { fixture.remove() }
        let alert = try await fixture.environment.alerts.alert(try #require(fixture.alertIDs["acme"])).0
        _ = try await Self.holds(fixture).place(
            device: alert.device, alert: (alert.id, alert.time), reason: "police request 77/2026", by: "ops")

        let outcome = try await Self.runner(fixture).run(now: Self.time(daysAfterFrame: 40), requester: "test")
        // The held alert's frame stays, in every repo; the device's other frame goes.
        #expect(outcome.files == 1 && outcome.alertsForgotten == 0, "\(outcome)")
        #expect(try await Self.exists(fixture, "images", "/frontdoor-1763800000.jpg"))
        #expect(try await Self.exists(fixture, "threats", "/frontdoor/frontdoor-1763800000.jpg.json"))
        #expect(try await !Self.exists(fixture, "images", "/frontdoor-1763800100.jpg"))
        #expect(try await fixture.environment.alerts.alerts().count == 2)
    }

    @Test func holdsArePlacedListedAndReleasedOverTheAPI() async throws {
        let fixture = try await Self.fixture()
        defer { fixture.remove() }
        let acme = try #require(fixture.alertIDs["acme"])
        try await fixture.test { client in
            func call(
                _ method: HTTPRequest.Method, _ uri: String, _ who: String, _ body: String? = nil
            )
                async throws -> (HTTPResponse.Status, [String: Any])
            {
                let (status, data) = try await client.execute(
                    uri: uri, method: method, headers: fixture.headers(who), body: body.map { ByteBuffer(string: $0) }
                ) { ($0.status, Data(buffer: $0.body)) }
                return (status, (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:])
            }
            let (placed, hold) = try await call(
                .post, "/v1/holds", "admin", #"{"alert": "\#(acme.prefix(8))", "reason": "police request 77/2026"}"#)
            #expect(placed == .created, "\(hold)")
            #expect(hold["alert"] as? String == acme && hold["device"] as? String == "frontdoor")
            #expect(hold["placedBy"] as? String == "root (admin)")
            let id = try #require(hold["id"] as? String)
            #expect(
                try await call(.post, "/v1/holds", "operator", #"{"device": "garage", "reason": "x"}"#).0 == .forbidden)
            let (listed, list) = try await call(.get, "/v1/holds", "operator")
            #expect(listed == .ok && (list["holds"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [id])
            // The held alert's frame cannot be erased over the API either.
            let (erasing, refusal) = try await call(
                .post, "/v1/erasures", "admin",
                #"{"addresses": ["images@master:/frontdoor-1763800000.jpg"], "reason": "asked"}"#)
            #expect(erasing == .conflict && (refusal["error"] as? [String: Any])?["code"] as? String == "held")

            for (body, code) in [
                (#"{"device": "front-door", "reason": "x"}"#, "bad-hold"),
                (#"{"device": "garage", "alert": "abcd", "reason": "x"}"#, "bad-hold"),
                (#"{"device": "garage", "reason": " "}"#, "bad-hold"),
                (#"{"device": null, "reason": "x"}"#, "bad-hold"),
                (#"{"alert": "abcdef12", "reason": "x"}"#, "alert-not-found"),
            ] {
                let (status, answer) = try await call(.post, "/v1/holds", "admin", body)
                #expect(status == (code == "alert-not-found" ? .notFound : .badRequest), "\(body)")
                #expect((answer["error"] as? [String: Any])?["code"] as? String == code, "\(body): \(answer)")
            }

            let (released, after) = try await call(
                .post, "/v1/holds/\(id)/release", "admin", #"{"reason": "case closed"}"#)
            #expect(released == .ok && after["releaseReason"] as? String == "case closed")
            let (again, twice) = try await call(.post, "/v1/holds/\(id)/release", "admin", #"{"reason": "again"}"#)
            #expect(again == .conflict && (twice["error"] as? [String: Any])?["code"] as? String == "hold-released")
            let (_, active) = try await call(.get, "/v1/holds", "admin")
            #expect((active["holds"] as? [Any])?.isEmpty == true, "\(active)")
            let (_, all) = try await call(.get, "/v1/holds?all=true", "admin")
            #expect((all["holds"] as? [[String: Any]])?.first?["released"] != nil)
            #expect(try await call(.get, "/v1/holds?all=maybe", "admin").0 == .badRequest)
        }
        // Each change is in the audit log with the hold it touched.
        let audit = try await fixture.environment.access.audit(limit: 50).compactMap(\.target)
        #expect(audit.contains { $0.hasPrefix("hold ") && $0.hasSuffix("released") })
        #expect(audit.contains { $0.hasPrefix("hold ") && $0.contains("alert \(acme)") })
    }

    @Test func aCustomerOnHoldKeepsEverythingOfItsUntilReleased() async throws {
        let fixture = try await Self.fixture()
        defer { fixture.remove() }
        func call(_ uri: String, _ body: String) async throws -> (HTTPResponse.Status, [String: Any]) {
            let (status, data) = try await fixture.test { client in
                try await client.execute(
                    uri: uri, method: .post, headers: fixture.headers("admin"), body: ByteBuffer(string: body)
                ) { ($0.status, Data(buffer: $0.body)) }
            }
            return (status, (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:])
        }
        for (body, status, code) in [
            (#"{"customer": "nobody", "reason": "x"}"#, HTTPResponse.Status.notFound, "customer-not-found"),
            (#"{"customer": "Not An Id", "reason": "x"}"#, .badRequest, "bad-hold"),
            (#"{"customer": "acme", "device": "garage", "reason": "x"}"#, .badRequest, "bad-hold"),
        ] {
            let (answered, answer) = try await call("/v1/holds", body)
            #expect(answered == status, "\(body)")
            #expect((answer["error"] as? [String: Any])?["code"] as? String == code, "\(body): \(answer)")
        }
        let (placed, hold) = try await call("/v1/holds", #"{"customer": "acme", "reason": "police request 12/2026"}"#)
        #expect(placed == .created && hold["customer"] as? String == "acme" && hold["device"] == nil, "\(hold)")
        let id = try #require(hold["id"] as? String)

        // Retention passes over acme's frames and its alert; erasing them, by customer or by camera, is refused.
        let held = try await Self.runner(fixture).run(now: Self.time(daysAfterFrame: 40), requester: "test")
        #expect(held.files == 0 && held.alertsForgotten == 0 && held.customers.first?.alertsKept == 1, "\(held)")
        #expect(try await Self.exists(fixture, "images", "/frontdoor-1763800100.jpg"))
        for body in [
            #"{"customers": ["acme"], "reason": "customer left"}"#,
            #"{"devices": ["frontdoor"], "reason": "customer left"}"#,
        ] {
            let (status, refusal) = try await call("/v1/erasures", body)
            #expect(status == .conflict && (refusal["error"] as? [String: Any])?["code"] as? String == "held")
        }
        // Another customer's camera is not held.
        let (erased, _) = try await call("/v1/erasures", #"{"devices": ["garage"], "reason": "camera removed"}"#)
        #expect(erased == .ok)

        _ = try await Self.holds(fixture).release(id, reason: "case closed", by: "ops")
        let after = try await Self.runner(fixture).run(now: Self.time(daysAfterFrame: 40), requester: "test")
        #expect(after.files == 4 && after.alertsForgotten == 1, "\(after)")
    }

    @Test func holdsAreCheckedAsTheyArePlacedAndReleased() async throws {
        let fixture = try await Self.fixture()
        defer { fixture.remove() }
        let holds = Self.holds(fixture)
        // Before any hold there is no holds repo, and none is needed to read them.
        #expect(try await holds.all().isEmpty)
        for reason in ["", "  \n"] {
            let error = await #expect(throws: VigilError.self) {
                _ = try await holds.place(device: "frontdoor", reason: reason, by: "ops")
            }
            #expect(error?.code == .badArgument)
        }
        let unknown = await #expect(throws: VigilError.self) {
            _ = try await holds.release("feedface", reason: "done", by: "ops")
        }
        #expect(unknown?.code == .holdNotFound)
    }

    @Test func retentionIsReadFromTheRules() throws {
        let customers = try RuleBookParser.parse(Self.rules)
        #expect(customers[0].retention == Retention(images: 30 * Self.day, alerts: 30 * Self.day))
        #expect(customers[1].retention == nil)
        for (value, message) in [
            ("{images: 5m}", "an hour or more"), ("{images: soon}", "a duration"), ("{}", "give images, alerts"),
            ("{images: 30d, videos: 1d}", "not a known field"),
        ] {
            let text = Self.rules.replacingOccurrences(of: "{images: 30d, alerts: 30d}", with: value)
            #expect(throws: RuleError.self, "\(value)") { try RuleBookParser.parse(text) }
            do {
                _ = try RuleBookParser.parse(text)
            } catch {
                #expect("\(error)".contains(message), "\(value): \(error)")
                #expect("\(error)".contains("retention"), "\(value): \(error)")
            }
        }
    }
}
