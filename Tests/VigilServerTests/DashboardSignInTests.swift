import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing
import VigilServer

@Suite("dashboard sign-in by form")
struct DashboardSignInTests {
    static let form: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]

    @Test func aPostedTokenBecomesAnHttpOnlyCookieSecureBehindHTTPSAndLimitedToTheTokensLife() async throws {
        var fixture = try await ServerFixture()
        defer { fixture.remove() }
        let expiring = try await fixture.environment.access.createToken(
            name: "visitor", role: .operator, expires: Date().addingTimeInterval(3_600), at: Date())
        fixture.tokens["visitor"] = expiring.token
        let tokens = fixture.tokens
        try await fixture.test { client in
            let signedIn = try await client.execute(
                uri: "/sign-in", method: .post, headers: Self.form,
                body: ByteBuffer(string: "token=\(tokens["acme"]!)"))
            #expect(signedIn.status == .seeOther && signedIn.headers[.location] == "/")
            let cookie = try #require(signedIn.headers[.setCookie])
            #expect(cookie.hasPrefix("vigil_token=\(tokens["acme"]!)"))
            #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && !cookie.contains("Secure"))
            #expect(!cookie.contains("Max-Age"), "a token without expiry: a session cookie")

            let visitor = try await client.execute(
                uri: "/sign-in", method: .post, headers: Self.form,
                body: ByteBuffer(string: "token=\(tokens["visitor"]!)&token=ignored"))
            let age = try #require(
                visitor.headers[.setCookie]?.firstMatch(of: /Max-Age=([0-9]+)/).flatMap { Int($0.1) })
            #expect(age > 3_500 && age <= 3_600)

            let wrong = try await client.execute(
                uri: "/sign-in", method: .post, headers: Self.form,
                body: ByteBuffer(string: "token=vgl_000000000000_\(String(repeating: "1", count: 64))"))
            #expect(wrong.status == .unauthorized && wrong.headers[.setCookie] == nil)
            #expect(String(buffer: wrong.body).contains("That token is not valid."))
            let empty = try await client.execute(uri: "/sign-in", method: .post, headers: Self.form)
            #expect(empty.status == .badRequest)
            let byGet = try await client.execute(uri: "/sign-in", method: .get)
            #expect(byGet.status == .methodNotAllowed)
            let inAddress = try await client.execute(uri: "/?token=\(tokens["acme"]!)", method: .get)
            #expect(inAddress.status == .badRequest && inAddress.headers[.setCookie] == nil)
        }

        var environment = fixture.environment
        environment.configuration.publicURL = URL(string: "https://vigil.example.com")
        let app = Application(router: VigilAPI.router(environment), logger: quiet)
        try await app.test(.router) { client in
            let signedIn = try await client.execute(
                uri: "/sign-in", method: .post, headers: Self.form,
                body: ByteBuffer(string: "token=\(tokens["acme"]!)"))
            #expect(signedIn.headers[.setCookie]?.contains("Secure") == true)
            let out = try await client.execute(uri: "/logout", method: .get)
            #expect(out.headers[.setCookie]?.contains("Secure") == true)
            #expect(out.headers[.setCookie]?.contains("Max-Age=0") == true)
        }
        let signIns = try await fixture.environment.access.audit(limit: 100).filter { $0.action == "POST /sign-in" }
        #expect(signIns.map(\.status).sorted() == [303, 303, 303, 400, 401])
    }
}
