import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing
import VigilAlerts
import VigilServer
import VigilStore

/// Verdicts on alerts: who may give them, how they are checked, and that they are versioned and audited.
@Suite("Verdicts on alerts")
struct VerdictTests {
    @Test func eachRoleJudgesTheAlertsItSeesAndTheLatestVerdictStands() async throws {
        let fixture = try await ServerFixture()
        defer { fixture.remove() }
        let acme = try #require(fixture.alertIDs["acme"])
        let smiths = try #require(fixture.alertIDs["smiths"])
        try await fixture.test { client in
            func call(
                _ method: HTTPRequest.Method, _ uri: String, _ who: String, _ body: String? = nil
            ) async throws -> (HTTPResponse.Status, [String: Any]) {
                let (status, data) = try await client.execute(
                    uri: uri, method: method, headers: fixture.headers(who), body: body.map { ByteBuffer(string: $0) }
                ) { ($0.status, Data(buffer: $0.body)) }
                return (status, (try? JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:])
            }
            func code(_ answer: [String: Any]) -> String? { (answer["error"] as? [String: Any])?["code"] as? String }

            // Nobody has judged it yet.
            let (none, unjudged) = try await call(.get, "/v1/alerts/\(acme)/verdict", "acme")
            #expect(none == .notFound && code(unjudged) == "no-verdict")

            // The customer judges its own alert.
            let (given, first) = try await call(
                .post, "/v1/alerts/\(acme)/verdict", "acme",
                #"{"verdict": "false-alarm", "label": "shadow", "note": "the porch light at dusk"}"#)
            #expect(given == .ok, "\(first)")
            #expect(first["verdict"] as? String == "false-alarm" && first["label"] as? String == "shadow")
            #expect(first["by"] as? String == "acme (customer)")
            #expect(first["device"] as? String == "frontdoor" && first["customer"] as? String == "acme")
            #expect((first["labels"] as? [String])?.isEmpty == false)

            // Another customer's alert does not exist for it, to read or to judge.
            #expect(
                try await call(.post, "/v1/alerts/\(smiths)/verdict", "acme", #"{"verdict": "confirmed"}"#).0
                    == .notFound)
            #expect(try await call(.get, "/v1/alerts/\(smiths)/verdict", "acme").0 == .notFound)
            // Devices and the unauthenticated judge nothing.
            #expect(
                try await call(.post, "/v1/alerts/\(acme)/verdict", "frontdoor", #"{"verdict": "confirmed"}"#).0
                    == .forbidden)
            #expect(
                try await call(.post, "/v1/alerts/\(acme)/verdict", "nobody", #"{"verdict": "confirmed"}"#).0
                    == .unauthorized)

            // An operator changes it: the latest stands, and it keeps the one it replaced.
            let (changed, second) = try await call(
                .post, "/v1/alerts/\(acme)/verdict", "operator", #"{"verdict": "confirmed"}"#)
            #expect(changed == .ok && second["verdict"] as? String == "confirmed" && second["label"] == nil)
            let earlier = try #require(second["earlier"] as? [[String: Any]])
            #expect(earlier.count == 1 && earlier.first?["label"] as? String == "shadow")
            #expect(earlier.first?["by"] as? String == "acme (customer)")
            let (read, standing) = try await call(.get, "/v1/alerts/\(acme)/verdict", "acme")
            #expect(
                read == .ok && standing["verdict"] as? String == "confirmed"
                    && standing["by"] as? String == "ops (operator)")

            // An admin judges any customer's.
            #expect(
                try await call(
                    .post, "/v1/alerts/\(smiths)/verdict", "admin", #"{"verdict": "confirmed", "label": "courier"}"#
                ).0 == .ok)

            for body in [
                #"{"verdict": "maybe"}"#, #"{"label": "cat"}"#, #"{"verdict": null}"#,
                #"{"verdict": "confirmed", "label": null}"#, #"{"verdict": "confirmed", "lable": "cat"}"#,
                #"{"verdict": "confirmed", "label": ""}"#, #"{"verdict": "confirmed", "label": "a\nb"}"#,
                #"{"verdict": "confirmed", "label": "\#(String(repeating: "x", count: 65))"}"#, "not json",
            ] {
                let (status, answer) = try await call(.post, "/v1/alerts/\(acme)/verdict", "admin", body)
                #expect(status == .badRequest && code(answer) == "bad-verdict", "\(body): \(answer)")
            }
            let (missing, unknown) = try await call(
                .post, "/v1/alerts/feedface99/verdict", "admin", #"{"verdict": "confirmed"}"#)
            #expect(missing == .notFound && code(unknown) == "alert-not-found")
        }

        // Versioned: one commit per verdict given, in the verdicts repo; each one in the audit log.
        let store = fixture.environment.store
        let repo = fixture.environment.configuration.verdictsRepo
        #expect(try await store.log(repo).count == 3)
        let book = VerdictBook(store: store, repo: repo)
        #expect(try await book.all().map(\.alert).sorted() == [acme, smiths].sorted())
        #expect(try await book.all(customer: "acme").map(\.verdict) == [.confirmed])
        let audit = try await fixture.environment.access.audit(limit: 50).compactMap(\.target)
        #expect(audit.contains("verdict on alert \(acme): false-alarm (shadow)"))
        #expect(audit.contains("verdict on alert \(acme): confirmed"))
    }
}
