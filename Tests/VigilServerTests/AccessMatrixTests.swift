import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing
import VigilServer

/// Every endpoint × every role and tenant: who gets what status. A row per request; a column per caller.
@Suite("HTTP API access: role × endpoint × tenant")
struct AccessMatrixTests {
    struct Row: Sendable, CustomTestStringConvertible {
        var method: HTTPRequest.Method
        var uri: String
        var body: Data?
        /// Caller → expected status; callers not named must get `otherwise`.
        var expected: [String: Int]
        var otherwise: Int

        var testDescription: String { "\(method) \(uri)" }
    }

    static let callers = [
        "none", "garbage", "forged", "revoked", "admin", "operator", "acme", "smiths", "frontdoor", "garage",
    ]
    /// What every protected endpoint answers a caller without a live token.
    static let unauthenticated = ["none": 401, "garbage": 401, "forged": 401, "revoked": 401]

    static let rows: [Row] = [
        Row(method: .get, uri: "/healthz", expected: [:], otherwise: 200),
        Row(method: .get, uri: "/readyz", expected: [:], otherwise: 200),
        Row(method: .get, uri: "/openapi.yaml", expected: [:], otherwise: 200),
        Row(method: .get, uri: "/metrics", expected: ["admin": 200, "operator": 200], otherwise: 403),
        Row(method: .get, uri: "/v1/repos", expected: ["admin": 200, "operator": 200], otherwise: 403),
        Row(method: .get, uri: "/v1/audit", expected: ["admin": 200], otherwise: 403),
        Row(
            method: .get, uri: "/v1/alerts", expected: ["admin": 200, "operator": 200, "acme": 200, "smiths": 200],
            otherwise: 403),
        Row(
            method: .get, uri: "/v1/alerts?customer=smiths",
            expected: ["admin": 200, "operator": 200, "acme": 403, "smiths": 200], otherwise: 403),
        Row(
            method: .put, uri: "/v1/images/frontdoor-1763800100.jpg", body: ServerFixture.jpeg,
            expected: ["admin": 201, "operator": 201, "frontdoor": 201], otherwise: 403),
        Row(
            method: .put, uri: "/v1/images/garage-1763800100.jpg", body: ServerFixture.jpeg,
            expected: ["admin": 201, "operator": 201, "garage": 201], otherwise: 403),
        Row(
            method: .get, uri: "/v1/repos/images/files/frontdoor-1763800000.jpg",
            expected: ["admin": 200, "operator": 200, "acme": 200, "smiths": 404], otherwise: 403),
        Row(
            method: .get, uri: "/v1/repos/detect/files/garage/garage-1763800000.jpg.json",
            expected: ["admin": 200, "operator": 200, "acme": 404, "smiths": 200], otherwise: 403),
        Row(
            method: .get, uri: "/v1/repos/threats/files/frontdoor/frontdoor-1763800000.jpg.json",
            expected: ["admin": 200, "operator": 200, "acme": 200, "smiths": 404], otherwise: 403),
        Row(
            method: .delete, uri: "/v1/repos/images/files/nothing-1763800000.jpg",
            expected: ["admin": 404, "operator": 404], otherwise: 403),
        // No body: an admin is told what an erasure needs; nobody else may ask.
        Row(method: .post, uri: "/v1/erasures", expected: ["admin": 400], otherwise: 403),
        // An alert nobody has: everyone who may judge alerts is told so; nobody else may ask.
        Row(
            method: .post, uri: "/v1/alerts/feedface00/verdict",
            expected: ["admin": 404, "operator": 404, "acme": 404, "smiths": 404], otherwise: 403),
        Row(
            method: .get, uri: "/v1/alerts/feedface00/verdict",
            expected: ["admin": 404, "operator": 404, "acme": 404, "smiths": 404], otherwise: 403),
        Row(method: .get, uri: "/v1/holds", expected: ["admin": 200, "operator": 200], otherwise: 403),
        Row(method: .post, uri: "/v1/holds", expected: ["admin": 400], otherwise: 403),
        Row(method: .post, uri: "/v1/holds/feedface/release", expected: ["admin": 400], otherwise: 403),
        Row(method: .get, uri: "/v1/repos/images/commits", expected: ["admin": 200, "operator": 200], otherwise: 403),
        Row(method: .get, uri: "/v1/repos/nope/commits", expected: ["admin": 404, "operator": 404], otherwise: 403),
        Row(method: .get, uri: "/v1/pipelines", expected: ["admin": 200, "operator": 200], otherwise: 403),
        Row(method: .get, uri: "/v1/jobs", expected: ["admin": 200, "operator": 200], otherwise: 403),
        Row(method: .get, uri: "/v1/workers", expected: ["admin": 200, "operator": 200], otherwise: 403),
        Row(
            method: .get, uri: "/v1/stats", expected: ["admin": 200, "operator": 200, "acme": 200, "smiths": 200],
            otherwise: 403),
        Row(
            method: .get, uri: "/v1/stats/by-device.svg",
            expected: ["admin": 200, "operator": 200, "acme": 200, "smiths": 200], otherwise: 403),
        Row(
            method: .get, uri: "/v1/lineage?address=threats@master:/frontdoor/frontdoor-1763800000.jpg.json",
            expected: ["admin": 200, "operator": 200, "acme": 200, "smiths": 404], otherwise: 403),
        Row(
            method: .get, uri: "/v1/repos/rules/files/customers.yaml",
            expected: ["admin": 200, "operator": 200, "acme": 404, "smiths": 404], otherwise: 403),
    ]

    @Test(arguments: rows)
    func everyCallerGetsItsStatus(row: Row) async throws {
        let fixture = try await ServerFixture()
        defer { fixture.remove() }
        let isPublic = ["/healthz", "/readyz", "/openapi.yaml"].contains(row.uri)
        try await fixture.test { client in
            for caller in Self.callers {
                let expected = row.expected[caller] ?? (isPublic ? nil : Self.unauthenticated[caller]) ?? row.otherwise
                let response = try await client.execute(
                    uri: row.uri, method: row.method, headers: fixture.headers(caller),
                    body: row.body.map { ByteBuffer(bytes: $0) })
                #expect(Int(response.status.code) == expected, "\(caller): \(String(buffer: response.body))")
                if expected == 401 {
                    #expect(response.errorCode == "unauthenticated")
                    #expect(response.headers[.wwwAuthenticate] == "Bearer realm=\"vigil\"")
                }
                if expected == 403 { #expect(response.errorCode == "forbidden") }
            }
        }
    }

    @Test func aCustomerSeesAndAcknowledgesOnlyItsOwnAlerts() async throws {
        let fixture = try await ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            for (caller, customers) in [("admin", ["acme", "smiths"]), ("acme", ["acme"]), ("smiths", ["smiths"])] {
                let response = try await client.execute(
                    uri: "/v1/alerts", method: .get, headers: fixture.headers(caller))
                let alerts = response.json["alerts"] as? [[String: Any]] ?? []
                #expect(alerts.compactMap { $0["customer"] as? String }.sorted() == customers, "\(caller)")
            }
            let acmeAlert = try #require(fixture.alertIDs["acme"])
            let foreign = try await client.execute(
                uri: "/v1/alerts/\(acmeAlert)/ack", method: .post, headers: fixture.headers("smiths"))
            #expect(foreign.status == .notFound)
            let own = try await client.execute(
                uri: "/v1/alerts/\(acmeAlert.prefix(8))/ack", method: .post, headers: fixture.headers("acme"))
            #expect(own.status == .ok)
            #expect(own.json["state"] as? String == "acknowledged" && own.json["acknowledgedBy"] as? String == "acme")
            let again = try await client.execute(
                uri: "/v1/alerts/\(acmeAlert)/ack", method: .post, headers: fixture.headers("operator"))
            #expect(again.status == .conflict && again.errorCode == "bad-alert-state")
            let device = try await client.execute(
                uri: "/v1/alerts/\(acmeAlert)/ack", method: .post, headers: fixture.headers("frontdoor"))
            #expect(device.status == .forbidden)
        }
    }

    @Test func statsAndChartsOfACustomerCountOnlyItsOwnDevices() async throws {
        let fixture = try await ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            for (caller, devices) in [
                ("admin", ["frontdoor", "garage"]), ("acme", ["frontdoor"]), ("smiths", ["garage"]),
            ] {
                let stats = try await client.execute(uri: "/v1/stats", method: .get, headers: fixture.headers(caller))
                let byDevice = (stats.json["alerts"] as? [String: Any])?["byDevice"] as? [String: Int] ?? [:]
                #expect(byDevice.keys.sorted() == devices, "\(caller)")
                let chart = try await client.execute(
                    uri: "/v1/stats/by-device.svg", method: .get, headers: fixture.headers(caller))
                let svg = String(buffer: chart.body)
                #expect(chart.headers[.contentType] == "image/svg+xml" && svg.hasPrefix("<svg"))
                for device in ["frontdoor", "garage"] {
                    #expect(svg.contains(">\(device)<") == devices.contains(device), "\(caller): \(device)")
                }
            }
            let missing = try await client.execute(
                uri: "/v1/stats/pie.svg", method: .get, headers: fixture.headers("admin"))
            #expect(missing.status == .notFound)
        }
    }

    @Test func lineageLeadsFromAThreatBackToItsInputs() async throws {
        let fixture = try await ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            let response = try await client.execute(
                uri: "/v1/lineage?address=threats@master:/garage/garage-1763800000.jpg.json", method: .get,
                headers: fixture.headers("smiths"))
            #expect(response.status == .ok)
            let commits = response.json["commits"] as? [[String: Any]] ?? []
            #expect(commits.first?["repo"] as? String == "threats")
            #expect((response.json["address"] as? String)?.hasPrefix("threats@") == true)
            let bad = try await client.execute(
                uri: "/v1/lineage?address=not%20an%20address", method: .get, headers: fixture.headers("admin"))
            #expect(bad.status == .badRequest)
        }
    }

    @Test func theAuditLogRecordsWhoDidWhatAndNeverATokensSecret() async throws {
        let fixture = try await ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            _ = try await client.execute(
                uri: "/v1/images/frontdoor-1763800200.jpg", method: .put, headers: fixture.headers("frontdoor"),
                body: ByteBuffer(bytes: ServerFixture.jpeg))
            _ = try await client.execute(uri: "/v1/repos", method: .get, headers: fixture.headers("acme"))
            _ = try await client.execute(uri: "/v1/repos", method: .get, headers: fixture.headers("garbage"))
            let response = try await client.execute(uri: "/v1/audit", method: .get, headers: fixture.headers("admin"))
            let entries = response.json["entries"] as? [[String: Any]] ?? []
            // Newest first; the audit read itself is recorded after it answers.
            #expect(entries.count == 3)
            let upload = try #require(entries.last)
            #expect(upload["principal"] as? String == "frontdoor" && upload["role"] as? String == "device")
            #expect(
                upload["status"] as? Int == 201
                    && upload["action"] as? String == "PUT /v1/images/frontdoor-1763800200.jpg")
            #expect((upload["target"] as? String)?.hasPrefix("images@") == true)
            #expect(entries[1]["status"] as? Int == 403 && entries[1]["principal"] as? String == "acme")
            #expect(entries[0]["status"] as? Int == 401 && entries[0]["tokenID"] as? String == "-")
            let text = String(buffer: response.body)
            for token in fixture.tokens.values where token.hasPrefix("vgl_") {
                #expect(!text.contains(String(token.split(separator: "_")[2])))
            }
        }
        #expect(try await fixture.environment.access.audit().count == 4)
    }
}
