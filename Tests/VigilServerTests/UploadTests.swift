import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing
import VigilServer
import VigilStore

@Suite("HTTP image upload")
struct UploadTests {
    @Test func anUploadIsOneCommitWithTheSameBytes() async throws {
        let fixture = try await ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            let response = try await client.execute(
                uri: "/v1/images/frontdoor-1763800300.jpg", method: .put, headers: fixture.headers("frontdoor"),
                body: ByteBuffer(bytes: ServerFixture.jpeg))
            #expect(response.status == .created)
            let commit = try #require(response.json["commit"] as? String)
            #expect(response.json["address"] as? String == "images@\(commit):/frontdoor-1763800300.jpg")
            #expect(response.json["sha256"] as? String == BlobHash(of: ServerFixture.jpeg).hex)
            let stored = try await fixture.environment.store.read(
                Address(repo: "images", ref: commit, path: "/frontdoor-1763800300.jpg"))
            #expect(stored == ServerFixture.jpeg)
            let info = try #require(try await fixture.environment.store.commit(id: commit))
            #expect(info.author == "device:frontdoor" && info.message == "upload frontdoor-1763800300.jpg")
            // Downloaded back as the customer who owns the device.
            let download = try await client.execute(
                uri: "/v1/repos/images/files/frontdoor-1763800300.jpg?ref=\(commit)", method: .get,
                headers: fixture.headers("acme"))
            #expect(download.status == .ok && Data(buffer: download.body) == ServerFixture.jpeg)
            #expect(download.headers[.contentType] == "image/jpeg")
            #expect(
                download.headers[HTTPField.Name("X-Vigil-Address")!] == "images@\(commit):/frontdoor-1763800300.jpg")
        }
    }

    @Test(arguments: [
        ("front-door-1763800000.jpg", ServerFixture.jpeg, 400, "bad-device-id"),
        ("frontdoor-17638x.jpg", ServerFixture.jpeg, 400, "bad-timestamp"),
        ("frontdoor-1763800000.gif", ServerFixture.jpeg, 400, "unknown-extension"),
        ("frontdoor-1763800000.jpg", Data(), 400, "empty-file"),
        ("frontdoor-1763800000.jpg", Data("hello, not a picture".utf8), 400, "not-an-image"),
        ("frontdoor-1763800000.jpg", ServerFixture.png, 400, "wrong-extension"),
        ("frontdoor-1763800000.png", ServerFixture.png, 201, nil),
        ("frontdoor-1763800000.jpg", ServerFixture.jpeg + Data(count: 2_000), 413, "too-large"),
    ])
    func badNamesAndBodiesAreRefusedWithTheirReason(name: String, body: Data, status: Int, code: String?) async throws {
        let fixture = try await ServerFixture(maxImageBytes: 1_000)
        defer { fixture.remove() }
        let before = try await fixture.environment.store.log("images").count
        try await fixture.test { client in
            let response = try await client.execute(
                uri: "/v1/images/\(name)", method: .put, headers: fixture.headers("operator"),
                body: ByteBuffer(bytes: body))
            #expect(Int(response.status.code) == status, "\(String(buffer: response.body))")
            #expect(response.errorCode == code)
        }
        // A refused upload commits nothing; an accepted one commits once.
        #expect(try await fixture.environment.store.log("images").count == before + (status == 201 ? 1 : 0))
        #expect(try FileManager.default.contentsOfDirectory(atPath: fixture.scratch.path).isEmpty)
    }

    /// Every list route takes `limit` from 1 to 1,000 as documented, and refuses anything else by name.
    @Test(arguments: ["/v1/alerts", "/v1/jobs", "/v1/audit", "/v1/repos/images/commits"])
    func aLimitOutsideItsBoundsIsRefusedWithTheReason(route: String) async throws {
        let fixture = try await ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            for limit in ["0", "-5", "1001", "abc", "2.5", ""] {
                let response = try await client.execute(
                    uri: "\(route)?limit=\(limit)", method: .get, headers: fixture.headers("admin"))
                #expect(response.status == .badRequest, "limit=\(limit): \(String(buffer: response.body))")
                #expect(response.errorCode == "bad-limit")
                #expect(String(buffer: response.body).contains("from 1 to 1000"))
            }
            for limit in ["1", "1000"] {
                let response = try await client.execute(
                    uri: "\(route)?limit=\(limit)", method: .get, headers: fixture.headers("admin"))
                #expect(response.status == .ok, "limit=\(limit): \(String(buffer: response.body))")
            }
            let one = try await client.execute(
                uri: "/v1/alerts?limit=1", method: .get, headers: fixture.headers("admin"))
            struct Alerts: Decodable { var alerts: [AnyCodable] }
            struct AnyCodable: Decodable {}
            #expect(try JSONDecoder().decode(Alerts.self, from: Data(buffer: one.body)).alerts.count == 1)
        }
    }

    /// A path the service has routes for, asked with another method, is 405 with the methods it takes; a path
    /// it has no route for stays 404, and so does a route's own "not found".
    @Test func anotherMethodOnAKnownPathIsRefusedWithTheMethodsItTakes() async throws {
        let fixture = try await ServerFixture()
        defer { fixture.remove() }
        try await fixture.test { client in
            for (method, path, allow) in [
                (HTTPRequest.Method("TRACE")!, "/v1/alerts", "GET"),
                (.delete, "/v1/images/frontdoor-1763800000.jpg", "PUT"),
                (.post, "/v1/repos/images/files/a/b.jpg", "DELETE, GET"), (.put, "/healthz", "GET"),
                (.get, "/v1/alerts/x/ack", "POST"),
            ] {
                let response = try await client.execute(uri: path, method: method, headers: fixture.headers("admin"))
                #expect(response.status == .methodNotAllowed, "\(method) \(path): \(String(buffer: response.body))")
                #expect(response.headers[.allow] == allow, "\(method) \(path)")
                #expect(response.errorCode == "method-not-allowed")
            }
            for (method, path) in [(HTTPRequest.Method.get, "/v1/nothing-here"), (.get, "/v1/repos/nope/commits")] {
                let response = try await client.execute(uri: path, method: method, headers: fixture.headers("admin"))
                #expect(response.status == .notFound, "\(method) \(path): \(String(buffer: response.body))")
                #expect(response.headers[.allow] == nil)
            }
        }
        let audit = try await fixture.environment.access.audit(token: nil, since: nil, limit: 100)
        #expect(audit.contains { $0.action == "TRACE /v1/alerts" && $0.status == 405 })
    }

    @Test func theServedOpenAPIDocumentIsTheCommittedOneAndNamesEveryRoute() async throws {
        let fixture = try await ServerFixture()
        defer { fixture.remove() }
        let committed = try String(
            contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("docs/openapi.yaml"), encoding: .utf8)
        try await fixture.test { client in
            let response = try await client.execute(uri: "/openapi.yaml", method: .get)
            #expect(String(buffer: response.body) == committed)
        }
        // Both ways, from the router's own table: every route is documented with its method, and every
        // documented operation is served.
        var served: Set<String> = []
        for route in VigilAPI.router(fixture.environment).routes {
            let path = route.path.description.split(separator: "/", omittingEmptySubsequences: false).map { piece in
                piece == "**" ? "{path}" : piece.hasPrefix(":") ? "{\(piece.dropFirst())}" : String(piece)
            }.joined(separator: "/")
            served.insert("\(route.method.rawValue.lowercased()) \(path.isEmpty ? "/" : path)")
        }
        var documented: Set<String> = []
        var current: String?
        for line in committed.split(separator: "\n") {
            if let path = line.firstMatch(of: /^  (\/[^:]*):$/) {
                current = String(path.1)
            } else if let method = line.firstMatch(of: /^    (get|put|post|delete|patch|head):/), let current {
                documented.insert("\(method.1) \(current)")
            } else if !line.hasPrefix(" ") {
                current = nil
            }
        }
        #expect(served.count > 15)
        #expect(served.subtracting(documented).isEmpty, "served, not documented: \(served.subtracting(documented))")
        #expect(documented.subtracting(served).isEmpty, "documented, not served: \(documented.subtracting(served))")
    }
}
