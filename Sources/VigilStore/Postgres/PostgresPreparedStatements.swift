import PostgresNIO

/// The statements a process runs at every upload (take a writer lease, record a commit), prepared once per
/// connection with SQL's `PREPARE` and run with `EXECUTE`, so the server parses and plans each once per session
/// rather than at every call: for these statements planning took longer than running.
///
/// SQL's `PREPARE` rather than the protocol's named statements because postgres-nio runs those only through an
/// `await` that never returns on a connection that has just closed (see `PostgresConnection.rows`). A statement
/// is named after a hash of its text and prepared with its parameters' types; `EXECUTE` gets the values as SQL
/// literals (`PostgresStatement` writes both), since the server does not take binds in `EXECUTE`'s arguments. A connection the statement is not prepared on yet answers `EXECUTE` with SQLSTATE 26000; it is
/// prepared there and run again. Only for statements run outside an explicit transaction, where that first
/// failure aborts nothing.
final class PostgresPreparedStatements: Sendable {
    /// Every row `statement` returns, run as a prepared statement on `connection`.
    func rows(_ statement: PostgresStatement, on connection: PostgresConnection) async throws -> [PostgresRow] {
        let name = Self.name(of: statement.sql)
        let arguments = statement.literals.isEmpty ? "" : "(\(statement.literals.joined(separator: ", ")))"
        let execute = PostgresQuery(unsafeSQL: "EXECUTE \(name)\(arguments)")
        do {
            return try await connection.rows(execute)
        } catch  where PostgresErrors.sqlState(of: error) == "26000" {
            // Not prepared on this connection yet.
        }
        let types = statement.types.isEmpty ? "" : "(\(statement.types.joined(separator: ", ")))"
        try await connection.rows(PostgresQuery(unsafeSQL: "PREPARE \(name)\(types) AS \(statement.sql)"))
        do {
            return try await connection.rows(execute)
        } catch  where PostgresErrors.sqlState(of: error) == "26000" {
            // Prepared, and gone at once: a pooler between Vigil and the server that hands each statement to
            // another session (PgBouncer's transaction mode). Such a setup runs the statement as it is.
            return try await connection.rows(statement.query)
        }
    }

    static func name(of sql: String) -> String {
        // FNV-1a: the same in every process and run (Swift's own hash is seeded per process).
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in sql.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return "vigil_" + String(hash, radix: 16)
    }
}
