import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing
import VigilServer

@Suite("failed sign-ins throttled per address and token id")
struct SignInThrottleTests {
    @Test func aKeyIsRefusedPastTheLimitUntilItsOldestFailureAgesOut() {
        let throttle = SignInThrottle(limits: .init(failures: 3, window: 60))
        let keys = SignInThrottle.keys(address: "10.0.0.7", token: "vgl_0123456789ab_secret")
        #expect(keys == ["address 10.0.0.7", "token 0123456789ab"])
        #expect(SignInThrottle.keys(address: nil, token: "not-a-token").isEmpty)
        let start = Date(timeIntervalSince1970: 1_700_000_000)
        for second in [0.0, 10, 20] {
            #expect(throttle.retryAfter(keys, at: start.addingTimeInterval(second)) == nil)
            throttle.recordFailure(for: keys, at: start.addingTimeInterval(second))
        }
        #expect(throttle.retryAfter(keys, at: start.addingTimeInterval(30)) == 30)
        #expect(throttle.isFirstRefusal(keys))
        #expect(!throttle.isFirstRefusal(keys))
        // The first failure ages out at 60 s: one more try, whose failure blocks again until the second ages.
        #expect(throttle.retryAfter(keys, at: start.addingTimeInterval(60)) == nil)
        throttle.recordFailure(for: keys, at: start.addingTimeInterval(61))
        #expect(throttle.retryAfter(keys, at: start.addingTimeInterval(62)) == 8)
        #expect(throttle.isFirstRefusal(keys), "a new block gets its own audit entry")
        // Another address and another id are not touched.
        #expect(
            throttle.retryAfter(["address 10.0.0.8", "token ffffffffffff"], at: start.addingTimeInterval(62)) == nil)
    }

    @Test func aFloodOfBadTokensIsRefusedAuditedOnceAndValidTokensFromTheSameAddressStillWork() async throws {
        let fixture = try await ServerFixture()
        defer { fixture.remove() }
        let forged = fixture.headers("forged")
        let audited = try await fixture.test(.live) { client in
            for _ in 0..<10 {
                let refused = try await client.execute(uri: "/v1/repos", method: .get, headers: forged)
                #expect(refused.status == .unauthorized)
            }
            // Its token id is over the limit: refused without its secret being checked.
            let throttled = try await client.execute(uri: "/v1/repos", method: .get, headers: forged)
            #expect(throttled.status == .tooManyRequests && throttled.errorCode == "too-many-failures")
            let retryAfter = try #require(throttled.headers[.retryAfter].flatMap(Int.init))
            #expect(retryAfter > 0 && retryAfter <= 60)
            // The address (127.0.0.1) is over the limit too, but a valid token from it still works.
            let admin = try await client.execute(uri: "/v1/repos", method: .get, headers: fixture.headers("admin"))
            #expect(admin.status == .ok)
            // A bad token without an id of its own is caught by the address.
            let garbage = try await client.execute(uri: "/v1/repos", method: .get, headers: fixture.headers("garbage"))
            #expect(garbage.status == .tooManyRequests)
            for who in ["garbage", "forged", "none", "garbage", "forged"] {
                let again = try await client.execute(uri: "/v1/alerts", method: .get, headers: fixture.headers(who))
                #expect(again.status == .tooManyRequests, "\(who)")
            }
            return try await fixture.environment.access.audit(limit: 1_000)
        }
        // Ten 401s, one entry for the block (the token id's and the address's began with the same request),
        // the admin's read: 12 of 19 requests.
        #expect(audited.count == 12, "\(audited.map { "\($0.status) \($0.action)" })")
        #expect(audited.filter { $0.status == 429 }.count == 1)
        #expect(audited.filter { $0.status == 401 }.count == 10)
    }
}
