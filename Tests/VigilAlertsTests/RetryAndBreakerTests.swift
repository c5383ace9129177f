import Foundation
import Testing
import VigilAlerts

@Suite("Retry policy and circuit breaker")
struct RetryAndBreakerTests {
    let policy = RetryPolicy(horizon: 86_400, baseDelay: 0.5, maxDelay: 60)

    @Test(arguments: [(1, 0.5), (2, 1.0), (3, 2.0), (5, 8.0), (8, 60.0), (30, 60.0)])
    func backoffDoublesWithJitterWithinTheCap(attempt: Int, exponential: Double) {
        let lowest = policy.delay(afterAttempt: attempt, random: { $0.lowerBound })
        let highest = policy.delay(afterAttempt: attempt, random: { $0.upperBound })
        #expect(lowest == exponential / 2)
        #expect(highest == exponential)
        for _ in 0..<100 {
            let delay = policy.delay(afterAttempt: attempt)
            #expect(delay >= lowest && delay <= highest)
        }
    }

    @Test func retryAfterIsHonouredUpToTheCap() {
        #expect(policy.delay(afterAttempt: 1, retryAfter: 7, random: { $0.lowerBound }) == 7)
        #expect(policy.delay(afterAttempt: 1, retryAfter: 600, random: { $0.lowerBound }) == 60)
        #expect(policy.delay(afterAttempt: 5, retryAfter: 1, random: { $0.upperBound }) == 8)
    }

    @Test func theBreakerOpensAfterTheThresholdAndLetsOneProbeThrough() {
        let breaker = CircuitBreaker(threshold: 3, coolDown: 10)
        let start = Date(timeIntervalSince1970: 1000)
        #expect(breaker.permit(at: start) == .send)
        breaker.recordFailure(at: start)
        breaker.recordFailure(at: start)
        #expect(breaker.current == .closed(failures: 2))
        breaker.recordSuccess()
        #expect(breaker.current == .closed(failures: 0))
        for _ in 0..<3 { breaker.recordFailure(at: start) }
        #expect(breaker.current == .open(until: start.addingTimeInterval(10)))
        #expect(breaker.openings == 1)
        #expect(breaker.permit(at: start.addingTimeInterval(9.9)) == .wait(until: start.addingTimeInterval(10)))
        #expect(breaker.permit(at: start.addingTimeInterval(10)) == .probe)
        // While the probe is out nobody else goes.
        if case .wait = breaker.permit(at: start.addingTimeInterval(10.1)) {} else { Issue.record("a second probe") }
        // The probe fails: open again, for another cool-down.
        breaker.recordFailure(at: start.addingTimeInterval(11))
        #expect(breaker.current == .open(until: start.addingTimeInterval(21)))
        #expect(breaker.openings == 2)
        #expect(breaker.permit(at: start.addingTimeInterval(21)) == .probe)
        breaker.recordSuccess()
        #expect(breaker.permit(at: start.addingTimeInterval(21)) == .send)
    }
}
