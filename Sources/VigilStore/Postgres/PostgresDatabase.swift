import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// One PostgreSQL database, shared by every store of a process (metadata, jobs, alerts, access): a bounded pool
/// of connections (postgres-nio's `PostgresClient`, run as a ServiceLifecycle service), a deadline on every
/// query, errors translated into `VigilError`s, and versioned schema migrations.
///
/// The deadline matters because postgres-nio waits about a minute on a server that went away: here a query
/// that gets no answer in `location.queryTimeout` fails with `database-unavailable` (an outage: work waits and
/// tries again), and the connection it was stuck on is closed.
public final class PostgresDatabase: Service, Sendable {
    public let location: PostgresLocation
    private let client: PostgresClient
    private let logger: Logger

    /// A client for `location`; nothing connects until `run()` runs and a query asks for a connection.
    public init(
        location: PostgresLocation, environment: [String: String] = ProcessInfo.processInfo.environment,
        logger: Logger
    ) throws {
        self.location = location
        self.logger = logger
        let tls: PostgresClient.Configuration.TLS =
            switch location.tls {
            case .disable: .disable
            case .prefer: .prefer(.makeClientConfiguration())
            case .require: .require(.makeClientConfiguration())
            }
        var configuration = PostgresClient.Configuration(
            host: location.host, port: location.port, username: location.user,
            password: try location.password(environment: environment), database: location.database, tls: tls)
        configuration.options.maximumConnections = location.poolSize
        configuration.options.connectTimeout = min(location.queryTimeout, .seconds(10))
        let milliseconds =
            location.queryTimeout.components.seconds * 1000
            + location.queryTimeout.components.attoseconds / 1_000_000_000_000_000
        // The server's own limits: a statement that runs too long, or a transaction left open by a client that
        // stalled (holding row locks other processes wait for), ends on the server too.
        configuration.options.additionalStartupParameters = [
            ("application_name", "vigil"),
            ("statement_timeout", "\(milliseconds)"),
            ("idle_in_transaction_session_timeout", "\(max(milliseconds * 6, 60_000))"),
        ]
        client = PostgresClient(configuration: configuration, backgroundLogger: logger)
    }

    public func run() async throws {
        await client.run()
    }

    /// Runs `body` on one pooled connection, within the deadline.
    public func withConnection<T: Sendable>(
        _ operation: String, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await withDeadline(operation, location.queryTimeout) { slot in
            try await self.client.withConnection { connection in
                slot.hold(connection)
                return try await body(connection)
            }
        }
    }

    /// Runs `body` in one transaction (committed when it returns, rolled back when it throws), within the
    /// deadline (`timeout`, or the location's query timeout).
    public func withTransaction<T: Sendable>(
        _ operation: String, timeout: Duration? = nil,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let logger = logger
        return try await withDeadline(operation, timeout ?? location.queryTimeout) { slot in
            try await self.client.withConnection { connection in
                slot.hold(connection)
                try await connection.query("BEGIN", logger: logger)
                let value: T
                do {
                    value = try await body(connection)
                } catch {
                    // A failed rollback leaves the connection broken; the pool replaces broken connections.
                    _ = try? await connection.query("ROLLBACK", logger: logger)
                    throw error
                }
                // A COMMIT that fails has an unknown outcome: callers keep their writes idempotent.
                try await connection.query("COMMIT", logger: logger)
                return value
            }
        }
    }

    /// Every row `query` returns.
    public func rows(_ operation: String, _ query: PostgresQuery) async throws -> [PostgresRow] {
        try await withConnection(operation) { connection in
            try await connection.query(query, logger: self.logger).collect()
        }
    }

    // MARK: Deadline

    /// The connection a query is running on, so that a deadline can close it (closing is what makes a query
    /// stuck on a silent server return; leasing stops on cancellation by itself).
    private final class ConnectionSlot: Sendable {
        private let connection = Mutex<PostgresConnection?>(nil)

        func hold(_ value: PostgresConnection) { connection.withLock { $0 = value } }

        func abandon() {
            if let connection = connection.withLock({ $0 }) { connection.close().whenComplete { _ in } }
        }
    }

    private enum Outcome<T: Sendable>: Sendable {
        case done(T)
        case expired
    }

    private func withDeadline<T: Sendable>(
        _ operation: String, _ timeout: Duration, _ work: @escaping @Sendable (ConnectionSlot) async throws -> T
    ) async throws -> T {
        let slot = ConnectionSlot()
        do {
            return try await withThrowingTaskGroup(of: Outcome<T>.self) { group in
                group.addTask { .done(try await work(slot)) }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return .expired
                }
                defer { group.cancelAll() }
                guard case .done(let value) = try await group.next() else {
                    slot.abandon()
                    throw VigilError(
                        .databaseUnavailable,
                        "PostgreSQL at \(location) did not answer \(operation) within \(Self.seconds(timeout)); "
                            + "is the server up and reachable?",
                        value: location.description)
                }
                return value
            }
        } catch {
            throw PostgresErrors.translate(error, location: location, operation: operation)
        }
    }

    static func seconds(_ duration: Duration) -> String {
        let value = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return value == value.rounded() ? "\(Int(value)) s" : String(format: "%.1f s", value)
    }
}
