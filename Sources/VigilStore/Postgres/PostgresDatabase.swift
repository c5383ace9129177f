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
    private let connectionConfiguration: PostgresConnection.Configuration
    let logger: Logger
    private let connectionIDs = Atomic<Int>(1_000_000)
    private let prepared = PostgresPreparedStatements()

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
        let password = try location.password(environment: environment)
        var configuration = PostgresClient.Configuration(
            host: location.host, port: location.port, username: location.user, password: password,
            database: location.database, tls: tls)
        configuration.options.maximumConnections = location.poolSize
        configuration.options.connectTimeout = location.connectTimeout ?? min(location.queryTimeout, .seconds(10))
        let milliseconds =
            location.queryTimeout.components.seconds * 1000
            + location.queryTimeout.components.attoseconds / 1_000_000_000_000_000
        // The server's own limits: a statement that runs too long, or a transaction left open by a client that
        // stalled (holding row locks other processes wait for), ends on the server too.
        let startup = [
            ("application_name", "vigil"),
            ("statement_timeout", "\(milliseconds)"),
            ("idle_in_transaction_session_timeout", "\(max(milliseconds * 6, 60_000))"),
        ]
        configuration.options.additionalStartupParameters = startup
        client = PostgresClient(configuration: configuration, backgroundLogger: logger)

        let connectionTLS: PostgresConnection.Configuration.TLS
        do {
            connectionTLS =
                switch location.tls {
                case .disable: .disable
                case .prefer: .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
                case .require: .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
                }
        } catch {
            throw VigilError(.badConfiguration, "cannot set up TLS for \(location): \(error)", value: "\(location)")
        }
        var dedicated = PostgresConnection.Configuration(
            host: location.host, port: location.port, username: location.user, password: password,
            database: location.database, tls: connectionTLS)
        let connecting = location.connectionTimeout.components
        dedicated.options.connectTimeout = .milliseconds(
            connecting.seconds * 1000 + connecting.attoseconds / 1_000_000_000_000_000)
        dedicated.options.additionalStartupParameters = startup
        connectionConfiguration = dedicated
    }

    public func run() async throws {
        await client.run()
    }

    /// Runs `body` on one pooled connection, within the deadline (the query timeout, plus `extraTime` for work
    /// whose size the caller knows grows with its input).
    public func withConnection<T: Sendable>(
        _ operation: String, extraTime: Duration = .zero,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await withDeadline(operation, location.queryTimeout + extraTime) { slot in
            try await self.client.withConnection { connection in
                slot.hold(connection)
                // The pool may hand out a connection whose close it has not heard of yet (see `inTransaction`).
                guard !connection.isClosed else {
                    throw VigilError(
                        .databaseUnavailable, "the connection to PostgreSQL at \(self.location) closed; trying again",
                        value: self.location.description)
                }
                return try await body(connection)
            }
        }
    }

    /// Runs `body` in one transaction on a pooled connection, within the deadline (see `withConnection`).
    public func withTransaction<T: Sendable>(
        _ operation: String, extraTime: Duration = .zero,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await withConnection(operation, extraTime: extraTime) { connection in
            try await Self.inTransaction(connection, body)
        }
    }

    /// Runs `body` on a connection of its own, outside the pool, closed afterwards: for the checks and
    /// migrations at start, whose errors say at once what is wrong (the pool quietly retries a server that
    /// refuses the password), and for LISTEN. Connecting must finish within the query timeout; `body` has
    /// `timeout` (by default the query timeout too).
    public func withDedicatedConnection<T: Sendable>(
        _ operation: String, timeout: Duration? = nil,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        let configuration = connectionConfiguration
        let id = connectionIDs.add(1, ordering: .relaxed).newValue
        return try await withDeadline(operation, timeout ?? location.queryTimeout) { slot in
            let connection = try await PostgresConnection.connect(
                configuration: configuration, id: id, logger: self.logger)
            slot.hold(connection)
            do {
                let value = try await body(connection)
                try? await connection.close()
                return value
            } catch {
                try? await connection.close()
                throw error
            }
        }
    }

    /// `body` between BEGIN and COMMIT, rolled back when it throws.
    public static func inTransaction<T: Sendable>(
        _ connection: PostgresConnection, _ body: @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await connection.rows("BEGIN")
        let value: T
        do {
            value = try await body(connection)
        } catch {
            // Never a statement on a connection that is gone: postgres-nio 1.33 writes it past the removed
            // handler and its answer never comes. The server rolls back a lost connection's transaction itself.
            if !connection.isClosed, !Self.isConnectionError(error) {
                _ = try? await connection.rows("ROLLBACK")
            }
            throw error
        }
        // A COMMIT that fails has an unknown outcome: callers keep their writes idempotent.
        try await connection.rows("COMMIT")
        return value
    }

    /// Every row `query` returns.
    public func rows(_ operation: String, _ query: PostgresQuery) async throws -> [PostgresRow] {
        try await withConnection(operation) { connection in
            try await connection.rows(query)
        }
    }

    /// Every row `query` returns, run as a statement prepared once per connection (see
    /// `PostgresPreparedStatements`): for the few statements every upload runs. Not inside a transaction.
    public func preparedRows(_ operation: String, _ statement: PostgresStatement) async throws -> [PostgresRow] {
        try await withConnection(operation) { connection in
            try await self.prepared.rows(statement, on: connection)
        }
    }

    /// Whether `error` says the connection itself failed (rather than the server refusing a statement).
    static func isConnectionError(_ error: any Error) -> Bool {
        guard let error = error as? PSQLError else { return false }
        return error.code != .server
    }

    // MARK: Deadline

    /// The connection a query is running on, so that a deadline can close it (closing is what makes a query
    /// stuck on a silent server return; leasing stops on cancellation by itself).
    private final class ConnectionSlot: Sendable {
        private let connection = Mutex<(PostgresConnection, since: ContinuousClock.Instant)?>(nil)

        func hold(_ value: PostgresConnection) { connection.withLock { $0 = (value, .now) } }

        var isHeld: Bool { connection.withLock { $0 != nil } }

        /// When the connection was handed over; nil while none is.
        var heldSince: ContinuousClock.Instant? { connection.withLock { $0?.since } }

        func abandon() {
            if let (connection, _) = connection.withLock({ $0 }) { connection.close().whenComplete { _ in } }
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
                // Getting a connection has the connect timeout; the work has `timeout` from when it has one.
                let connecting = location.connectionTimeout
                group.addTask {
                    let start = ContinuousClock.now
                    while slot.heldSince == nil, ContinuousClock.now - start < connecting {
                        try await Task.sleep(for: min(.milliseconds(20), connecting))
                    }
                    // Nearly always cancelled (the answer comes first): a sleep that frees its timer then.
                    if let since = slot.heldSince { try await ReleasingSleep.sleep(for: since + timeout - .now) }
                    return .expired
                }
                defer { group.cancelAll() }
                guard case .done(let value) = try await group.next() else {
                    let connected = slot.isHeld
                    slot.abandon()
                    throw VigilError(
                        .databaseUnavailable,
                        connected
                            ? "PostgreSQL at \(location) did not answer \(operation) within "
                                + "\(Self.seconds(timeout)); is the server up and reachable?"
                            : "could not get a connection to PostgreSQL at \(location) for \(operation) within "
                                + "\(Self.seconds(connecting)); is the server up, reachable and taking connections?",
                        value: location.description)
                }
                return value
            }
        } catch {
            throw PostgresErrors.translate(error, location: location, operation: operation)
        }
    }

    static func seconds(_ duration: Duration) -> String {
        let value = duration.inSeconds
        return value == value.rounded() ? "\(Int(value)) s" : String(format: "%.1f s", value)
    }
}
