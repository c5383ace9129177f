import Foundation
import Hummingbird
import HummingbirdTesting
import ServerTestSupport
import Testing
import VigilServer

/// The dashboard as two customers and an operator see it, rendered by headless Chromium from a live server.
@Suite("Dashboard in headless Chromium", .serialized)
struct DashboardTests {
    /// The page's DOM after Chromium loaded `url` (following the sign-in redirect with its cookie). Chromium
    /// is waited for on a thread of its own, not on one of Swift's few cooperative threads.
    static func render(_ url: String) async throws -> String {
        try await blockingWork { try renderBlocking(url) }
    }

    static func renderBlocking(_ url: String, screenshot: URL? = nil) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/chromium")
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent(
            "vigil-chromium-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: profile) }
        process.arguments =
            [
                "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=\(profile.path)",
                "--window-size=1400,1600", "--virtual-time-budget=10000",
            ] + (screenshot.map { ["--screenshot=\($0.path)"] } ?? ["--dump-dom"]) + [url]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    /// The dashboard as a browser shows it after signing in with `token` through the sign-in form: a page
    /// that posts the form as a user would, then the redirect to `/` with the cookie it set.
    static func signIn(_ base: String, token: String) async throws -> String {
        let page = FileManager.default.temporaryDirectory.appendingPathComponent(
            "vigil-sign-in-\(UUID().uuidString).html")
        defer { try? FileManager.default.removeItem(at: page) }
        try Data(
            """
            <!doctype html><form method="post" action="\(base)/sign-in"><input name="token" value="\(token)"></form>
            <script>document.forms[0].submit()</script>
            """.utf8
        ).write(to: page)
        return try await render(page.absoluteString)
    }

    @Test func eachCustomerSeesOnlyItsOwnDevices() async throws {
        let fixture = try await ServerFixture()
        defer { fixture.remove() }
        let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
        var environment = fixture.environment
        environment.configuration.port = 0
        let app = VigilAPI.application(environment) { portSink.yield($0) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            var iterator = ports.makeAsyncIterator()
            let port = try #require(await iterator.next())
            let base = "http://127.0.0.1:\(port)"
            let acme = try await Self.signIn(base, token: fixture.tokens["acme"]!)
            let smiths = try await Self.signIn(base, token: fixture.tokens["smiths"]!)
            let operatorPage = try await Self.signIn(base, token: fixture.tokens["operator"]!)
            let stranger = try await Self.render("\(base)/")
            let wrong = try await Self.signIn(base, token: "vgl_000000000000_\(String(repeating: "1", count: 64))")
            // A token in the address is not taken: it would stay in history and logs.
            let inAddress = try await Self.render("\(base)/?token=\(fixture.tokens["acme"]!)")
            group.cancelAll()

            #expect(acme.contains("Signed in as <b>acme</b>"))
            #expect(acme.contains("data-device=\"frontdoor\"") && !acme.contains("data-device=\"garage\""))
            #expect(!acme.contains("garage-1763800000.jpg"))
            #expect(acme.contains("<figure data-chart=\"by-day.svg\"><svg"))
            #expect(!acme.contains("id=\"pipelines\""))
            #expect(smiths.contains("data-device=\"garage\"") && !smiths.contains("data-device=\"frontdoor\""))
            #expect(!smiths.contains("frontdoor-1763800000.jpg"))
            #expect(
                operatorPage.contains("data-device=\"garage\"") && operatorPage.contains("data-device=\"frontdoor\""))
            #expect(operatorPage.contains("id=\"pipelines\""))
            #expect(operatorPage.contains("Failed datums (tried again on a schedule): <b class=\"\">0</b>"))
            #expect(operatorPage.contains("dead alerts"))
            #expect(!acme.contains("id=\"health\""))
            #expect(stranger.contains("id=\"sign-in\"") && !stranger.contains("class=\"alert\""))
            #expect(wrong.contains("That token is not valid."))
            #expect(inAddress.contains("id=\"sign-in\"") && inAddress.contains("stays in browser history"))
            #expect(!inAddress.contains("Signed in as"))
        }
        // The views were audited as the customers who saw them.
        let views = try await fixture.environment.access.audit().filter { $0.action == "GET /" && $0.status == 200 }
        #expect(Set(views.map(\.principal)) == ["acme", "smiths", "ops"])
    }
}
