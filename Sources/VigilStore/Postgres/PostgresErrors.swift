import PostgresNIO

/// Turns what postgres-nio throws into a `VigilError` that says what was wrong and what to do: the connection
/// (`database-unavailable`, an outage), the credentials, a missing database, or the server's refusal of a
/// statement (with its SQLSTATE).
enum PostgresErrors {
    static func translate(_ error: any Error, location: PostgresLocation, operation: String) -> any Error {
        if error is VigilError || error is CancellationError { return error }
        if let error = error as? PostgresTransactionError {
            return translate(
                error.closureError ?? error.commitError ?? error.beginError ?? error.rollbackError ?? error,
                location: location, operation: operation)
        }
        guard let error = error as? PSQLError else {
            // The callers' own errors (a pipeline that exists, a job not found) pass through as they are.
            guard error is ChannelError || error is IOError else { return error }
            return VigilError(
                .databaseUnavailable, "cannot reach PostgreSQL at \(location) for \(operation): \(error)",
                value: location.description)
        }
        guard error.code == .server else {
            // PSQLError's own description is deliberately vague; its code and the socket error say what happened.
            let cause = error.underlying.map { "\(error.code): \($0)" } ?? error.code.description
            return VigilError(
                .databaseUnavailable,
                "cannot reach PostgreSQL at \(location) for \(operation) (\(cause)); is the server up and the URL "
                    + "right?",
                value: location.description)
        }
        let state = sqlState(of: error) ?? ""
        let message = error.serverInfo?[.message] ?? "no message"
        switch state {
        case "28P01", "28000":
            return VigilError(
                .databaseAuthFailed,
                "PostgreSQL at \(location.host):\(location.port) refused user '\(location.user)' (\(message)); set "
                    + "the password in PGPASSWORD or a password file, and check the server's pg_hba.conf",
                value: location.user)
        case "3D000":
            return VigilError(
                .databaseNotFound,
                "there is no database '\(location.database)' on \(location.host):\(location.port); create it "
                    + "(createdb -h \(location.host) -p \(location.port) -U \(location.user) \(location.database)) "
                    + "or fix the URL",
                value: location.database)
        default:
            return VigilError(
                isTransient(state) ? .databaseUnavailable : .databaseError,
                "PostgreSQL at \(location) refused \(operation): \(message) (SQLSTATE \(state))",
                value: state)
        }
    }

    /// SQLSTATEs that say the server cannot do the work now, not that the work is wrong: connection exceptions,
    /// insufficient resources (disk full, too many connections), shutdown, a statement or lock timeout, a
    /// serialization failure or deadlock (retrying succeeds).
    static func isTransient(_ state: String) -> Bool {
        state.hasPrefix("08") || state.hasPrefix("53") || state.hasPrefix("57P")
            || ["57014", "55P03", "40001", "40P01", "58030"].contains(state)
    }

    /// The SQLSTATE of a statement the server refused; nil for any other error.
    static func sqlState(of error: any Error) -> String? {
        guard let error = error as? PSQLError, error.code == .server else { return nil }
        return error.serverInfo?[.sqlState]
    }
}
