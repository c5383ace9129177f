import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing
import VigilServer
import VigilStages

/// A camera moved from one customer to another: access follows who owned it at each image's time.
@Suite("a device moved between customers")
struct DeviceMoveTests {
    /// The fixture (acme owns frontdoor, smiths garage; frontdoor-1763800000 and its records and alert are
    /// acme's), then frontdoor moves to smiths in a new rules commit, and a frame from after the move arrives
    /// with its records and its alert (smiths').
    static func moved() async throws -> (ServerFixture, later: String, alert: String) {
        var fixture = try await ServerFixture()
        let store = fixture.environment.store
        let moved = ServerFixture.rules.replacingOccurrences(of: "devices: [frontdoor]", with: "devices: [porch]")
            .replacingOccurrences(of: "devices: [garage]", with: "devices: [garage, frontdoor]")
        // A broken version in between (refused by the threats stage as by this) changes no one's access.
        try await ServerFixture.commit(["/customers.yaml": Data("customers: [{id: x}]".utf8)], to: "rules", in: store)
        try await ServerFixture.commit(["/customers.yaml": Data(moved.utf8)], to: "rules", in: store)
        let seconds = Int64(Date().timeIntervalSince1970) + 3_600
        let name = "frontdoor-\(seconds).jpg"
        var record = try ServerFixture.threat(device: "frontdoor", customer: "smiths")
        record.time = seconds
        record.image.name = name
        record.imagePath = "/frontdoor/\(name)"
        try await ServerFixture.commit(["/\(name)": ServerFixture.jpeg], to: "images", in: store)
        try await ServerFixture.commit(["/frontdoor/\(name).json": Data("{}".utf8)], to: "detect", in: store)
        try await ServerFixture.commit(["/frontdoor/\(name).json": try record.encoded()], to: "threats", in: store)
        let alerts = try await fixture.environment.alerts.ingest(
            [(record, "threats@0001:/frontdoor/\(name).json")], repo: "threats", from: "0000", to: "0001", now: Date())
        let alert = try #require(alerts.first).id
        fixture.alertIDs["moved"] = alert
        return (fixture, name, alert)
    }

    @Test func theNewOwnerSeesOnlyFramesFromAfterTheMoveAndTheOldOwnerKeepsItsHistory() async throws {
        let (fixture, later, movedAlert) = try await Self.moved()
        defer { fixture.remove() }
        let earlier = "frontdoor-1763800000.jpg"
        let acmeAlert = try #require(fixture.alertIDs["acme"])
        let rows: [(String, [String: Int])] = [
            ("/v1/repos/images/files/\(earlier)", ["acme": 200, "smiths": 404, "admin": 200]),
            ("/v1/repos/images/files/\(later)", ["acme": 404, "smiths": 200, "admin": 200]),
            ("/v1/repos/threats/files/frontdoor/\(earlier).json", ["acme": 200, "smiths": 404]),
            ("/v1/repos/threats/files/frontdoor/\(later).json", ["acme": 404, "smiths": 200]),
            ("/v1/repos/detect/files/frontdoor/\(later).json", ["acme": 404, "smiths": 200]),
            ("/v1/lineage?address=threats@master:/frontdoor/\(earlier).json", ["acme": 200, "smiths": 404]),
            ("/v1/lineage?address=threats@master:/frontdoor/\(later).json", ["acme": 404, "smiths": 200]),
            ("/v1/alerts/\(acmeAlert)/thumbnail.jpg", ["smiths": 404]),
            ("/v1/alerts/\(movedAlert)/thumbnail.jpg", ["acme": 404]),
        ]
        try await fixture.test { client in
            for (uri, expected) in rows {
                for (caller, status) in expected {
                    let response = try await client.execute(uri: uri, method: .get, headers: fixture.headers(caller))
                    #expect(Int(response.status.code) == status, "\(caller) GET \(uri)")
                }
            }
            func alerts(_ caller: String) async throws -> Set<String> {
                let response = try await client.execute(
                    uri: "/v1/alerts", method: .get, headers: fixture.headers(caller))
                let list = response.json["alerts"] as? [[String: Any]] ?? []
                return Set(list.compactMap { $0["id"] as? String })
            }
            #expect(try await alerts("acme") == [acmeAlert])
            #expect(try await alerts("smiths") == [movedAlert, try #require(fixture.alertIDs["smiths"])])
            // Acknowledging is as reading: not the other owner's.
            let foreign = try await client.execute(
                uri: "/v1/alerts/\(acmeAlert)/ack", method: .post, headers: fixture.headers("smiths"))
            #expect(foreign.status == .notFound)
            // The stats count each frame for the customer that owned the camera when it was taken.
            func alertsByDevice(_ caller: String) async throws -> [String: Int] {
                let response = try await client.execute(
                    uri: "/v1/stats", method: .get, headers: fixture.headers(caller))
                return ((response.json["alerts"] as? [String: Any])?["byDevice"] as? [String: Int]) ?? [:]
            }
            #expect(try await alertsByDevice("acme") == ["frontdoor": 1])
            #expect(try await alertsByDevice("smiths") == ["frontdoor": 1, "garage": 1])
        }
    }

    @Test func ownershipFollowsTheRulesHistoryAndAFirstOwnerHadTheDeviceFromTheStart() throws {
        func book(_ owners: [String: [String]]) throws -> RuleBook {
            let yaml =
                "customers:\n"
                + owners.sorted { $0.key < $1.key }.map { id, devices in
                    "  - {id: \(id), name: \(id), contacts: [{name: A, email: a@x.example}], devices: [\(devices.joined(separator: ", "))], dangerous: {person: 0.5}}"
                }.joined(separator: "\n")
            return try RuleBookParser.parse(files: [("customers.yaml", yaml)])
        }
        let owned = DeviceOwnership(history: [
            (100, try book(["a": ["cam1"], "b": ["cam9"]])),
            (200, try book(["a": ["cam1"], "b": ["cam2"]])),
            (300, try book(["a": ["cam8"], "b": ["cam1", "cam2"]])),
            (400, try book(["a": ["cam1"], "b": ["cam2"]])),
        ])
        #expect(owned.owner(of: "cam1", at: 0) == "a")
        #expect(owned.owner(of: "cam1", at: 299) == "a")
        #expect(owned.owner(of: "cam1", at: 300) == "b")
        #expect(owned.owner(of: "cam1", at: 400) == "a")
        // cam2 was added at 200: its first owner had it from the beginning.
        #expect(owned.owner(of: "cam2", at: 50) == "b")
        #expect(owned.owner(of: "cam3", at: 50) == nil)
        #expect(owned.devices(everOwnedBy: "b") == ["cam1", "cam2", "cam9"])
        #expect(owned.owns("cam2", always: "b") && !owned.owns("cam1", always: "a"))
    }
}
