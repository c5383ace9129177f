import Hummingbird

/// The `limit` query parameter of the list routes: a whole number from 1 to `maximum`, or the route's default
/// when absent. Anything else is refused with `bad-limit` (what was sent and what is accepted), not clamped or
/// ignored: a negative limit used to reach the database, and `abc` silently meant the default.
enum PageLimit {
    static let maximum = 1_000

    static func read(_ query: Parameters, default value: Int) throws -> Int {
        guard let text = query.get("limit") else { return value }
        guard let limit = Int(text), (1...maximum).contains(limit) else {
            throw APIError.badRequest(
                code: "bad-limit", "limit must be a whole number from 1 to \(maximum); leave it out for \(value)",
                value: text)
        }
        return limit
    }
}
