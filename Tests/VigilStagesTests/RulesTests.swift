import Foundation
import Testing
import VigilStages
import VigilVision

@Suite("Customer rules")
struct RulesTests {
    static let sample = """
        customers:
          - id: acme
            name: Acme Storage Ltd
            timezone: Europe/London
            contacts:
              - {name: Ana Lee, email: ana@acme.example, phone: "+44 20 7946 0000"}
              - {name: Bo Chen, email: bo@acme.example}
            devices: [frontdoor, garage]
            dangerous: {person: 0.6, car: 0.7}
            schedule:
              - {days: [weekdays], from: "18:00", to: "07:00"}
              - {days: [weekends], from: "00:00", to: "24:00"}
            escalation: {order: [Bo Chen, Ana Lee], acknowledgeWithin: 5m}
          - id: home-2
            name: The Smiths
            contacts: [{name: Sam Smith, phone: "07700 900123"}]
            devices: [backyard]
            dangerous: {person: 0.5, dog: 0.9}
        """

    @Test func aRuleBookParsesWithDefaults() throws {
        let book = try RuleBookParser.parse(files: [("rules.yaml", Self.sample)])
        #expect(book.customers.map(\.id) == ["acme", "home-2"])
        let acme = try #require(book.customer(of: "garage"))
        #expect(acme.timeZone == "Europe/London")
        #expect(acme.escalation == Escalation(order: ["Bo Chen", "Ana Lee"], acknowledgeWithin: 300))
        #expect(acme.schedule.count == 2)
        let smiths = try #require(book.customer(of: "backyard"))
        #expect(smiths.timeZone == "UTC")
        #expect(smiths.schedule.isEmpty)
        #expect(smiths.escalation == Escalation(order: ["Sam Smith"], acknowledgeWithin: 600))
        #expect(book.customer(of: "elsewhere") == nil)
    }

    @Test(arguments: [
        ("customers: []", "customers", "non-empty list"),
        ("customer: []", "rules.customer", "not a known field"),
        (
            "customers: [{id: Acme, name: A, contacts: [{name: a, email: a@b.c}], devices: [d], dangerous: {x: 1}}]",
            "customers[0].id", "lower-case"
        ),
        (
            "customers: [{id: a, name: A, timezone: Mars/Olympus, contacts: [{name: a, email: a@b.c}], devices: [d], dangerous: {x: 1}}]",
            "customers[0].timezone", "IANA"
        ),
        (
            "customers: [{id: a, name: A, contacts: [{name: a}], devices: [d], dangerous: {x: 1}}]",
            "customers[0].contacts[0]", "email or a phone"
        ),
        (
            "customers: [{id: a, name: A, contacts: [{name: a, email: nobody}], devices: [d], dangerous: {x: 1}}]",
            "customers[0].contacts[0].email", "e-mail"
        ),
        (
            "customers: [{id: a, name: A, contacts: [{name: a, email: a@b.c}], devices: [front-door], dangerous: {x: 1}}]",
            "customers[0].devices[0]", "device id"
        ),
        (
            "customers: [{id: a, name: A, contacts: [{name: a, email: a@b.c}], devices: [d], dangerous: {person: 1.5}}]",
            "customers[0].dangerous.person", "at most 1"
        ),
        (
            "customers: [{id: a, name: A, contacts: [{name: a, email: a@b.c}], devices: [d], dangerous: {}}]",
            "customers[0].dangerous", "map labels"
        ),
        (
            "customers: [{id: a, name: A, contacts: [{name: a, email: a@b.c}], devices: [d], dangerous: {x: 1}, schedule: [{days: [someday], from: '18:00', to: '07:00'}]}]",
            "customers[0].schedule[0].days[0]", "weekdays"
        ),
        (
            "customers: [{id: a, name: A, contacts: [{name: a, email: a@b.c}], devices: [d], dangerous: {x: 1}, schedule: [{days: [mon], from: '25:00', to: '07:00'}]}]",
            "customers[0].schedule[0].from", "HH:MM"
        ),
        (
            "customers: [{id: a, name: A, contacts: [{name: a, email: a@b.c}], devices: [d], dangerous: {x: 1}, schedule: [{days: [mon], from: '07:00', to: '07:00'}]}]",
            "customers[0].schedule[0]", "same time"
        ),
        (
            "customers: [{id: a, name: A, contacts: [{name: a, email: a@b.c}], devices: [d], dangerous: {x: 1}, escalation: {order: [b]}}]",
            "customers[0].escalation.order[0]", "names no contact"
        ),
        (
            "customers: [{id: a, name: A, contacts: [{name: a, email: a@b.c}], devices: [d], dangerous: {x: 1}, escalation: {acknowledgeWithin: soon}}]",
            "customers[0].escalation.acknowledgeWithin", "duration"
        ),
        (
            "customers: [{id: a, name: A, contacts: [{name: a, email: a@b.c}], devices: [d], dangerous: {x: 1}, extra: 1}]",
            "customers[0].extra", "not a known field"
        ),
    ])
    func badRulesNameTheFieldAndTheReason(yaml: String, field: String, reason: String) {
        do {
            _ = try RuleBookParser.parse(files: [("bad.yaml", yaml)])
            Issue.record("accepted: \(yaml)")
        } catch {
            #expect(error.field == field, "\(error)")
            #expect(error.message.contains(reason), "\(error)")
            #expect(error.file == "bad.yaml")
            #expect(error.description.hasPrefix("bad.yaml: \(field): "))
        }
    }

    @Test func aDeviceHasOneOwnerAcrossFiles() {
        let other =
            "customers: [{id: other, name: O, contacts: [{name: o, email: o@o.io}], devices: [garage], dangerous: {person: 0.5}}]"
        #expect(throws: RuleError.self) {
            try RuleBookParser.parse(files: [("a.yaml", Self.sample), ("b.yaml", other)])
        }
        do {
            _ = try RuleBookParser.parse(files: [("a.yaml", Self.sample), ("b.yaml", other)])
        } catch {
            #expect(error.message.contains("already belongs to customer 'acme'"))
            #expect(error.file == "b.yaml")
        }
    }

    /// 2025-11-24 is a Monday; London is on GMT in November and BST (UTC+1) in July.
    static func utc(_ text: String) -> Date { try! Date(text, strategy: .iso8601) }

    @Test(arguments: [
        ("2025-11-24T17:59:00Z", false),  // Monday before the evening window
        ("2025-11-24T18:00:00Z", true),  // Monday 18:00: the window opens
        ("2025-11-25T06:59:00Z", true),  // Tuesday morning: Monday's window, past midnight
        ("2025-11-25T07:00:00Z", false),  // Tuesday 07:00: closed (end is exclusive)
        // Monday 03:00: the weekend window ended at Sunday 24:00, and the night window that would reach here
        // starts on Sunday, not a weekday (days name the day a window starts; add sun to cover that night).
        ("2025-11-24T03:00:00Z", false),
        ("2025-11-29T06:59:00Z", true),  // Saturday: weekend all day
        ("2025-11-28T12:00:00Z", false),  // Friday noon
        ("2025-07-07T17:30:00Z", true),  // July Monday 17:30 UTC = 18:30 BST: open
        ("2025-07-08T06:30:00Z", false),  // July Tuesday 06:30 UTC = 07:30 BST: closed
    ])
    func schedulesFollowTheCustomersLocalTime(time: String, active: Bool) throws {
        let book = try RuleBookParser.parse(files: [("rules.yaml", Self.sample)])
        let acme = try #require(book.customer(of: "frontdoor"))
        #expect(acme.isActive(at: Self.utc(time)) == active, "\(time)")
    }

    @Test func detectionsMatchOnlyDangerousLabelsAboveTheirMinimum() throws {
        let book = try RuleBookParser.parse(files: [("rules.yaml", Self.sample)])
        let night = Self.utc("2025-11-24T22:00:00Z")
        let detections = [
            Detection(label: "person", confidence: 0.95, xMin: 0, yMin: 0, xMax: 10, yMax: 10),
            Detection(label: "person", confidence: 0.61, xMin: 20, yMin: 0, xMax: 30, yMax: 10),
            Detection(label: "person", confidence: 0.59, xMin: 40, yMin: 0, xMax: 50, yMax: 10),
            Detection(label: "car", confidence: 0.69, xMin: 0, yMin: 0, xMax: 10, yMax: 10),
            Detection(label: "cat", confidence: 0.99, xMin: 0, yMin: 0, xMax: 10, yMax: 10),
        ]
        let match = try #require(book.judge(device: "garage", time: night, detections: detections))
        #expect(match.customer == "acme")
        #expect(match.labels == [RuleMatch.Label(label: "person", confidence: 0.95, count: 2, minConfidence: 0.6)])
        #expect(match.localTime == "2025-11-24T22:00:00Z")
        // Daytime on a weekday: the schedule is off. An unowned device, or nothing dangerous: no match.
        #expect(book.judge(device: "garage", time: Self.utc("2025-11-24T12:00:00Z"), detections: detections) == nil)
        #expect(book.judge(device: "nobody", time: night, detections: detections) == nil)
        #expect(book.judge(device: "backyard", time: night, detections: [detections[4]]) == nil)
        let smiths = try #require(
            book.judge(device: "backyard", time: Self.utc("2025-07-07T12:00:00Z"), detections: detections))
        #expect(smiths.labels.map(\.label) == ["person"])
    }
}
