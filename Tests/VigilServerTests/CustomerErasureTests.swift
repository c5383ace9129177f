import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing
import VigilAlerts
import VigilStages
import VigilStore

/// Erasing a customer (`POST /v1/erasures` with `customers`, as `vigil erase --customer`): the frames of the
/// cameras it owned, everything made from them, and its alerts, whose records hold its contacts.
@Suite("Erasing a customer")
struct CustomerErasureTests {
    static func erase(_ fixture: ServerFixture, _ body: String) async throws -> (HTTPResponse.Status, [String: Any]) {
        let (status, answer) = try await fixture.test { client in
            try await client.execute(
                uri: "/v1/erasures", method: .post, headers: fixture.headers("admin"), body: ByteBuffer(string: body)
            ) { ($0.status, Data(buffer: $0.body)) }
        }
        return (status, (try JSONSerialization.jsonObject(with: answer) as? [String: Any]) ?? [:])
    }

    @Test func aCustomersFramesRecordsAndAlertsGoAndNoOneElses() async throws {
        let fixture = try await ServerFixture()
        defer { fixture.remove() }
        let (dryStatus, dry) = try await Self.erase(
            fixture, #"{"customers": ["acme"], "reason": "customer left (ticket 88)", "dryRun": true}"#)
        #expect(dryStatus == .ok)
        #expect(dry["files"] as? Int == 3 && dry["alertsForgotten"] as? Int == 1, "\(dry)")
        #expect(try await fixture.environment.alerts.alerts().count == 2)

        let (status, done) = try await Self.erase(
            fixture, #"{"customers": ["acme"], "reason": "customer left (ticket 88)"}"#)
        #expect(status == .ok)
        #expect(done["files"] as? Int == 3 && done["alertsForgotten"] as? Int == 1, "\(done)")
        let paths = (done["entries"] as? [[String: Any]] ?? []).compactMap { $0["path"] as? String }.sorted()
        #expect(
            paths == [
                "/frontdoor-1763800000.jpg", "/frontdoor/frontdoor-1763800000.jpg.json",
                "/frontdoor/frontdoor-1763800000.jpg.json",
            ])
        // No record with acme's contacts is left in the alert store; smiths' alert stays.
        let alerts = try await fixture.environment.alerts.alerts()
        #expect(alerts.map(\.customer) == ["smiths"])
        // The same threat ingested again does not come back.
        let record = try ServerFixture.threat(device: "frontdoor", customer: "acme")
        let again = try await fixture.environment.alerts.ingest(
            [(record, "threats@0001:/frontdoor/frontdoor-1763800000.jpg.json")], repo: "threats", from: "0000",
            to: "0001", now: Date())
        #expect(again.isEmpty)
        let garage = try await fixture.environment.store.read(Address(repo: "images", path: "/garage-1763800000.jpg"))
        #expect(garage == ServerFixture.jpeg)
    }

    /// A customer's verdicts hold who judged its alerts and their notes: they go with its frames; another
    /// customer's stay.
    @Test func aCustomersVerdictsGoWithIt() async throws {
        let fixture = try await ServerFixture()
        defer { fixture.remove() }
        let environment = fixture.environment
        let book = VerdictBook(store: environment.store, repo: environment.configuration.verdictsRepo)
        for customer in ["acme", "smiths"] {
            let alert = try await environment.alerts.alert(try #require(fixture.alertIDs[customer])).0
            _ = try await book.record(
                .falseAlarm, label: "shadow", note: "Ana saw the porch light", on: alert, by: "\(customer) (customer)")
        }
        let (status, done) = try await Self.erase(fixture, #"{"customers": ["acme"], "reason": "customer left"}"#)
        #expect(status == .ok, "\(done)")
        let acme = try #require(fixture.alertIDs["acme"])
        let path = "/acme/\(acme).json"
        let paths = (done["entries"] as? [[String: Any]] ?? []).compactMap { $0["path"] as? String }
        #expect(paths.contains(path), "\(paths)")
        // Gone from the head, and unreadable through the commit that had it.
        await #expect(throws: VigilError.self) {
            _ = try await environment.store.read(Address(repo: "verdicts", path: path))
        }
        let earlier = await #expect(throws: VigilError.self) {
            _ = try await environment.store.read(Address(repo: "verdicts", ref: "master^", path: path))
        }
        #expect(earlier?.code == .erased)
        #expect(try await book.all().map(\.customer) == ["smiths"])
    }

    /// The rules as they were once acme had a second contact, and once it had left.
    static let rulesWithTwoContacts = ServerFixture.rules.replacingOccurrences(
        of: "contacts: [{name: Ana Lee, email: ana@acme.example}]",
        with: #"contacts: [{name: Ana Lee, email: ana@acme.example}, {name: Bo Lee, phone: "+44 7700 900456"}]"#)
    static let rulesWithoutAcme = """
        customers:
          - id: smiths
            name: The Smiths
            contacts: [{name: Sam Smith, phone: "07700 900123"}]
            devices: [garage]
            dangerous: {person: 0.5}
        """
    static let acmesPersonalData = ["Acme Storage Ltd", "Ana Lee", "ana@acme.example", "Bo Lee", "900456"]

    /// Every past rules version names acme with its contacts: an erasure takes those versions and keeps what
    /// says which cameras acme owned, so ownership (access, retention, holds) reads as before.
    @Test func aCustomerWhoLeftLeavesNoNameOrContactInTheRulesHistory() async throws {
        let fixture = try await ServerFixture()
        defer { fixture.remove() }
        let store = fixture.environment.store
        for rules in [Self.rulesWithTwoContacts, Self.rulesWithoutAcme] {
            try await ServerFixture.commit(["/customers.yaml": Data(rules.utf8)], to: "rules", in: store)
        }
        let (status, done) = try await Self.erase(fixture, #"{"customers": ["acme"], "reason": "customer left"}"#)
        #expect(status == .ok, "\(done)")
        let rulesEntries = (done["entries"] as? [[String: Any]] ?? []).filter { $0["repo"] as? String == "rules" }
        #expect(rulesEntries.count == 2, "\(done)")
        #expect((done["notes"] as? [String])?.isEmpty == true, "\(done)")
        for (version, text) in [("master^^", ServerFixture.rules), ("master^", Self.rulesWithTwoContacts)] {
            let failure = await #expect(throws: VigilError.self) {
                _ = try await store.read(Address(repo: "rules", ref: version, path: "/customers.yaml"))
            }
            #expect(failure?.code == .erased, "\(version)")
            let hash = BlobHash(of: Data(text.utf8))
            await #expect(throws: VigilError.self, "the bytes of \(version) are gone") {
                _ = try await store.blobs.get(hash)
            }
            let kept = try #require(
                try await store.metadata.remainder(repo: "rules", path: "/customers.yaml", hash: hash))
            let keptText = String(decoding: kept, as: UTF8.self)
            for personal in Self.acmesPersonalData { #expect(!keptText.contains(personal), "\(version): \(personal)") }
            #expect(keptText.contains("frontdoor") && keptText.contains("Sam Smith"), "\(keptText)")
        }
        #expect(
            try await store.read(Address(repo: "rules", path: "/customers.yaml")) == Data(Self.rulesWithoutAcme.utf8))
        // Who owned which camera when reads as before the erasure.
        let ownership = try await RuleHistory(store: store, repo: "rules").ownership()
        #expect(ownership.owner(of: "frontdoor", at: 1_763_800_000) == "acme")
        #expect(ownership.owner(of: "garage", at: 1_763_800_000) == "smiths")
        #expect(ownership.owner(of: "frontdoor", at: Date().timeIntervalSince1970 + 60) == nil)
        // Nothing is left to take: erasing acme again finds no rules version.
        let (_, again) = try await Self.erase(fixture, #"{"customers": ["acme"], "reason": "again", "dryRun": true}"#)
        #expect(
            (again["entries"] as? [[String: Any]] ?? []).filter { $0["repo"] as? String == "rules" }.isEmpty,
            "\(again)")
    }

    /// While acme is in the rules in force, the threats stage alerts its contacts from them: that version
    /// stays, the one before goes, and the answer says so.
    @Test func aCustomerStillInTheRulesKeepsItsContactsThereAndIsTold() async throws {
        let fixture = try await ServerFixture()
        defer { fixture.remove() }
        let store = fixture.environment.store
        try await ServerFixture.commit(
            ["/customers.yaml": Data(Self.rulesWithTwoContacts.utf8)], to: "rules", in: store)
        let (status, done) = try await Self.erase(fixture, #"{"customers": ["acme"], "reason": "its request"}"#)
        #expect(status == .ok, "\(done)")
        let notes = done["notes"] as? [String] ?? []
        #expect(notes.count == 1 && notes.first?.contains("'acme' is in the rules in force") == true, "\(done)")
        let failure = await #expect(throws: VigilError.self) {
            _ = try await store.read(Address(repo: "rules", ref: "master^", path: "/customers.yaml"))
        }
        #expect(failure?.code == .erased)
        #expect(
            try await store.read(Address(repo: "rules", path: "/customers.yaml"))
                == Data(Self.rulesWithTwoContacts.utf8))
        let current = try #require(try await RuleHistory(store: store, repo: "rules").current())
        #expect(current.customer(of: "frontdoor")?.contacts.count == 2)
        #expect(
            try await RuleHistory(store: store, repo: "rules").ownership().owner(of: "frontdoor", at: 1_763_800_000)
                == "acme")
    }

    /// A rules version that did not parse judged nothing. Erased whole (it names acme, and nothing of it can
    /// be kept), it still judges nothing: who owned which camera when is the same after the erasure.
    @Test func aBrokenRulesVersionErasedWholeLeavesOwnershipAsItWas() async throws {
        let fixture = try await ServerFixture()
        defer { fixture.remove() }
        let store = fixture.environment.store
        for rules in ["customers: [{id: acme, name: Acme Storage Ltd, devices: [frontdoor]", Self.rulesWithoutAcme] {
            try await ServerFixture.commit(["/customers.yaml": Data(rules.utf8)], to: "rules", in: store)
        }
        let before = try await RuleHistory(store: store, repo: "rules").ownership()
        let (status, done) = try await Self.erase(fixture, #"{"customers": ["acme"], "reason": "customer left"}"#)
        #expect(status == .ok, "\(done)")
        let rulesEntries = (done["entries"] as? [[String: Any]] ?? []).filter { $0["repo"] as? String == "rules" }
        #expect(rulesEntries.count == 2, "\(done)")
        #expect(try await RuleHistory(store: store, repo: "rules").ownership() == before)
        #expect(before.owner(of: "frontdoor", at: 1_763_800_000) == "acme")
    }

    @Test func anUnknownCustomerIsRefused() async throws {
        let fixture = try await ServerFixture()
        defer { fixture.remove() }
        for (body, status, code) in [
            (#"{"customers": ["nobody"], "reason": "x"}"#, HTTPResponse.Status.notFound, "customer-not-found"),
            (#"{"customers": ["Not An Id"], "reason": "x"}"#, .badRequest, "bad-argument"),
            (#"{"customers": [], "reason": "x"}"#, .badRequest, "bad-erasure"),
        ] {
            let (answered, answer) = try await Self.erase(fixture, body)
            #expect(answered == status, "\(body)")
            #expect((answer["error"] as? [String: Any])?["code"] as? String == code, "\(body): \(answer)")
        }
        #expect(try await fixture.environment.alerts.alerts().count == 2)
    }
}
