import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import VigilAlerts
import VigilServer

/// One click on the dashboard gives a verdict; the session cookie does so only with the form key of a page the
/// service rendered for that same token.
@Suite("dashboard verdicts")
struct DashboardVerdictTests {
    @Test func oneClickRecordsAVerdictOnlyWithThePagesOwnFormKey() async throws {
        let fixture = try await ServerFixture()
        defer { fixture.remove() }
        let acme = try #require(fixture.alertIDs["acme"])
        let smiths = try #require(fixture.alertIDs["smiths"])
        let tokens = fixture.tokens
        try await fixture.test { client in
            func cookie(_ who: String) -> HTTPFields { [.cookie: "vigil_token=\(tokens[who]!)"] }
            func form(_ who: String) -> HTTPFields {
                var fields = cookie(who)
                fields[.contentType] = "application/x-www-form-urlencoded"
                return fields
            }
            func action(_ who: String) async throws -> String {
                let page = String(buffer: try await client.execute(uri: "/", method: .get, headers: cookie(who)).body)
                return String(try #require(page.firstMatch(of: /action="(\/verdict\?form=[0-9a-f]{32})"/)?.1))
            }
            let page = String(buffer: try await client.execute(uri: "/", method: .get, headers: cookie("acme")).body)
            #expect(page.contains("id=\"alert-\(acme)\"") && page.contains("False alarm</button>"))
            let mine = try await action("acme")
            let operators = try await action("operator")
            #expect(mine != operators)

            // Without the key, with a wrong one, or with another token's: the cookie changes nothing.
            for uri in ["/verdict", "/verdict?form=0123456789abcdef0123456789abcdef", operators] {
                let refused = try await client.execute(
                    uri: uri, method: .post, headers: form("acme"),
                    body: ByteBuffer(string: "alert=\(acme)&verdict=false-alarm"))
                #expect(refused.status == .unauthorized, "\(uri)")
            }
            let clicked = try await client.execute(
                uri: mine, method: .post, headers: form("acme"),
                body: ByteBuffer(string: "alert=\(acme)&verdict=false-alarm&label=the+cat"))
            #expect(clicked.status == .seeOther && clicked.headers[.location] == "/#alert-\(acme)")
            let after = String(buffer: try await client.execute(uri: "/", method: .get, headers: cookie("acme")).body)
            #expect(after.contains("false alarm (the cat)"))

            // Another customer's alert is not found, even with a good key; a verdict that is none is refused.
            let foreign = try await client.execute(
                uri: mine, method: .post, headers: form("acme"),
                body: ByteBuffer(string: "alert=\(smiths)&verdict=confirmed"))
            #expect(foreign.status == .notFound)
            let bad = try await client.execute(
                uri: mine, method: .post, headers: form("acme"), body: ByteBuffer(string: "alert=\(acme)&verdict=maybe")
            )
            #expect(bad.status == .badRequest)
        }
        let book = VerdictBook(store: fixture.environment.store, repo: fixture.environment.configuration.verdictsRepo)
        let alert = try await fixture.environment.alerts.alert(acme).0
        let verdict = try #require(try await book.verdict(on: alert))
        #expect(verdict.verdict == .falseAlarm && verdict.label == "the cat" && verdict.by == "acme (customer)")
        let audit = try await fixture.environment.access.audit(limit: 100).filter { $0.action == "POST /verdict" }
        #expect(
            audit.contains { $0.principal == "acme" && $0.target == "verdict on alert \(acme): false-alarm (the cat)" })
        #expect(audit.filter { $0.status == 401 }.count == 3)
    }
}
