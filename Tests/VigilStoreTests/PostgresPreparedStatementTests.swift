import Foundation
import ServerTestSupport
import Testing
import VigilStore

@Suite("PostgreSQL prepared statements", .enabled(if: PostgresServer.canRun, "\(PostgresServer.skipReason)"))
struct PostgresPreparedStatementTests {
    /// Values that would break a careless literal: quotes, backslashes, what looks like SQL, non-ASCII text,
    /// doubles that only read back exactly when written in full, extreme integers, NULLs and arrays.
    private static let rows: [(String?, Double?, Int64?, [String])] = [
        ("it's", 0.1, 1, ["a'b", #"c\d"#]),
        (#"back\slash \' E'\n'"#, 1_700_000_000.123456, Int64.max, []),
        ("'); DROP TABLE things; --", 1e-300, Int64.min, ["日本語", ""]),
        ("📷 porch", -0.0, 0, [#"\"#, "'"]),
        (nil, nil, nil, ["$1", "NULL"]),
        ("", .greatestFiniteMagnitude, -1, ["{a,b}"]),
    ]

    @Test func aPreparedStatementCarriesEveryValueExactly() async throws {
        let server = try await PostgresServer.shared()
        // One connection, so the second round runs on the statements the first one prepared.
        var location = try await server.newDatabaseLocation()
        location.poolSize = 1
        try await PostgresServer.withClient(location, environment: server.environment, logger: .test) { database in
            _ = try await database.rows(
                "creating", "CREATE TABLE things(n integer, t text, d double precision, i bigint, a text[])")
            for round in 0..<2 {
                for (index, row) in Self.rows.enumerated() {
                    let (text, double, integer, array) = row
                    let number = round * Self.rows.count + index
                    let echoed = try await database.preparedRows(
                        "inserting",
                        """
                        INSERT INTO things(n, t, d, i, a) VALUES (\(number), \(text), \(double), \(integer), \(array))
                        RETURNING t, d, i, a
                        """)
                    let back = try #require(echoed.first).decode((String?, Double?, Int64?, [String]).self)
                    #expect(back.0 == text && back.1 == double && back.2 == integer && back.3 == array)
                    #expect(back.1?.sign == double?.sign)
                }
            }
            // A statement without parameters is prepared and run too.
            for _ in 0..<2 {
                let counted = try await database.preparedRows("counting", "SELECT count(*) FROM things")
                #expect(try counted.first?.decode(Int64.self) == Int64(2 * Self.rows.count))
            }
            // Read back without the prepared path: what was stored is what was given.
            let stored = try await database.rows("reading", "SELECT t, d, i, a FROM things ORDER BY n")
            #expect(stored.count == 2 * Self.rows.count)
            for (index, row) in stored.enumerated() {
                let (text, double, integer, array) = try row.decode((String?, Double?, Int64?, [String]).self)
                let given = Self.rows[index % Self.rows.count]
                #expect(text == given.0 && double == given.1 && integer == given.2 && array == given.3)
            }
            let prepared = try await database.rows(
                "listing prepared statements", "SELECT count(*) FROM pg_prepared_statements")
            #expect(try prepared.first?.decode(Int64.self) == 2)
        }
    }
}
