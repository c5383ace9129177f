import Foundation
import Logging

/// Returns datums whose workers stopped renewing their leases to the queue. Every process that shares a queue
/// runs one; a lease row with a term elects which of them acts, so expired leases are taken back once, by
/// one leader, and a leader that lost the lead (paused, cut off) cannot act in a later leader's term.
struct LeaseKeeper: Sendable {
    static let role = "datum-leases"

    let queue: any DatumQueue
    let holder: String
    let logger: Logger
    /// How often the leader looks for expired leases: what bounds how late past its lease a dead worker's
    /// datum is taken back.
    var tick: Double = 0.25
    /// How long a leader's lead lasts unless renewed (renewed every third of it); a follower tries to take it
    /// that often.
    var leadFor: Double = 3
    /// How many times a datum's lease may run out before it fails instead of being requeued.
    var maxExpirations = 5
    /// How long to hold back after this keeper could not reach the database: the workers could not either, so
    /// their leases ran out for the outage, not because they died; they renew them within a third of a lease
    /// of its end. Twice the workers' lease.
    var quietAfterOutage: Double

    init(queue: any DatumQueue, holder: String, logger: Logger, lease: Double) {
        self.queue = queue
        self.holder = holder
        self.logger = logger
        quietAfterOutage = 2 * lease
    }

    /// Runs until cancelled.
    func run() async {
        var term: Int64?
        var renewed = ContinuousClock.now - .seconds(3600)
        var quietUntil = ContinuousClock.now
        while !Task.isCancelled {
            do {
                if ContinuousClock.now - renewed >= .seconds(leadFor / 3) {
                    let next = try await queue.lead(Self.role, holder: holder, ttl: leadFor)
                    if next != term {
                        logger.info(
                            next == nil
                                ? "another process requeues expired datum leases"
                                : "this process requeues expired datum leases",
                            metadata: ["holder": "\(holder)", "term": "\(next.map(String.init) ?? "-")"])
                    }
                    term = next
                    renewed = ContinuousClock.now
                }
                if let term, ContinuousClock.now >= quietUntil {
                    let handled = try await queue.requeueExpired(
                        role: Self.role, holder: holder, term: term, maxExpirations: maxExpirations)
                    if handled > 0 {
                        logger.warning(
                            "datums whose workers stopped renewing their leases went back to the queue",
                            metadata: ["datums": "\(handled)", "term": "\(term)"])
                    }
                }
            } catch {
                if Task.isCancelled { return }
                term = nil
                quietUntil = ContinuousClock.now + .seconds(quietAfterOutage)
                logger.debug("lease keeper could not reach the queue", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: .seconds(term == nil ? leadFor / 3 : tick))
        }
    }
}
