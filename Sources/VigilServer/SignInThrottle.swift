import Foundation
import Synchronization

/// Failed sign-ins (requests answered 401) counted per client address and per token id, over a sliding
/// window. Past `failures` in `window` seconds, until the oldest of them ages out:
/// - a token id is refused (429) without its secret being checked, as GitHub does for a user's credentials;
/// - an address still has its tokens checked (a revoked camera retrying behind a site's one address must not
///   cut off the site's other cameras), but each bad one is answered 429.
/// Either way the audit log gets one entry per block, not one per request, so a flood cannot grow it without
/// bound. Per process: each server of a shared deployment keeps its own counts.
public final class SignInThrottle: Sendable {
    public struct Limits: Sendable {
        public var failures: Int
        public var window: Double

        public init(failures: Int = 10, window: Double = 60) {
            self.failures = failures
            self.window = window
        }
    }

    /// Keys remembered at once; past it the stalest are forgotten (an attacker with many addresses cannot grow
    /// this without bound).
    static let capacity = 100_000

    private struct Record {
        var failures: [Double] = []
        var refusalAudited = false
    }

    public let limits: Limits
    private let records = Mutex<[String: Record]>([:])

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// The keys a request is counted under: its address (when known) and the id its token claims (when it has
    /// the shape of one).
    public static func keys(address: String?, token: String?) -> [String] {
        var keys: [String] = []
        if let address { keys.append("address \(address)") }
        if let token {
            let parts = token.split(separator: "_", omittingEmptySubsequences: false)
            if parts.count == 3, parts[0] == "vgl", parts[1].utf8.count == 12 { keys.append("token \(parts[1])") }
        }
        return keys
    }

    /// Seconds until the most blocked of `keys` may try again; nil when none is over the limit.
    public func retryAfter(_ keys: [String], at now: Date = Date()) -> Double? {
        let time = now.timeIntervalSince1970
        return records.withLock { records in
            var wait = 0.0
            for key in keys {
                guard var record = records[key] else { continue }
                record.failures.removeAll { $0 <= time - limits.window }
                if record.failures.count >= limits.failures {
                    wait = max(wait, record.failures[record.failures.count - limits.failures] + limits.window - time)
                } else {
                    record.refusalAudited = false
                }
                records[key] = record.failures.isEmpty ? nil : record
            }
            return wait > 0 ? wait : nil
        }
    }

    /// Whether this is the first refusal of the current block of any of `keys` (the one to audit).
    public func isFirstRefusal(_ keys: [String]) -> Bool {
        records.withLock { records in
            var first = false
            for key in keys {
                guard let record = records[key], record.failures.count >= limits.failures, !record.refusalAudited
                else { continue }
                records[key]?.refusalAudited = true
                first = true
            }
            return first
        }
    }

    public func recordFailure(for keys: [String], at now: Date = Date()) {
        let time = now.timeIntervalSince1970
        records.withLock { records in
            if records.count >= Self.capacity { Self.forgetStalest(&records) }
            for key in keys {
                var record = records[key] ?? Record()
                record.failures.removeAll { $0 <= time - limits.window }
                record.failures.append(time)
                // Only the last `failures` matter for the verdict.
                if record.failures.count > limits.failures { record.failures.removeFirst() }
                records[key] = record
            }
        }
    }

    private static func forgetStalest(_ records: inout [String: Record]) {
        let sorted = records.sorted { ($0.value.failures.last ?? 0) < ($1.value.failures.last ?? 0) }
        for (key, _) in sorted.prefix(records.count / 2) { records[key] = nil }
    }
}
