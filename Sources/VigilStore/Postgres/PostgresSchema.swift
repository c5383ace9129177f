import Logging
import PostgresNIO

/// The versioned schema of one part of Vigil (metadata, jobs, alerts, access) in a shared PostgreSQL database:
/// its migrations in order, each a list of statements. `vigil_schema` records how many each part has applied.
public struct PostgresSchema: Sendable {
    public var component: String
    public var migrations: [[String]]

    public init(component: String, migrations: [[String]]) {
        self.component = component
        self.migrations = migrations
    }

    /// Every process that opens the database calls this at start. One transaction, under an advisory lock that
    /// every Vigil process takes for its schema changes, so two processes starting at once apply each migration
    /// exactly once (the second waits, then finds nothing to do). A database that a newer Vigil migrated
    /// further is refused with `schema-too-new` before anything touches it.
    public func apply(to database: PostgresDatabase) async throws {
        let component = component
        let migrations = migrations
        let location = database.location
        try await database.withDedicatedConnection("migrating the \(component) schema", timeout: .seconds(600)) {
            connection in
            try await PostgresDatabase.inTransaction(connection) { connection in
                try await Self.migrate(connection, component: component, migrations: migrations, location: location)
            }
        }
    }

    private static func migrate(
        _ connection: PostgresConnection, component: String, migrations: [[String]], location: PostgresLocation
    ) async throws {
        // DDL on a big table may take long; the transaction's own deadline bounds it instead.
        try await connection.rows("SET LOCAL statement_timeout = 0")
        try await connection.rows("SELECT pg_advisory_xact_lock(\(Self.lockKey))")
        try await connection.rows(
            """
            CREATE TABLE IF NOT EXISTS vigil_schema(
                component text PRIMARY KEY, version integer NOT NULL, updated timestamptz NOT NULL)
            """)
        let rows = try await connection.rows(
            "SELECT version FROM vigil_schema WHERE component = \(component)")
        let applied = try rows.first?.decode(Int.self) ?? 0
        guard applied <= migrations.count else {
            throw VigilError(
                .schemaTooNew,
                "the \(component) schema in \(location) is at version \(applied), which a newer Vigil wrote; "
                    + "this Vigil knows versions up to \(migrations.count): upgrade it before it uses this "
                    + "database",
                value: "\(applied)")
        }
        guard applied < migrations.count else { return }
        for migration in migrations[applied...] {
            for statement in migration {
                try await connection.rows(PostgresQuery(unsafeSQL: statement))
            }
        }
        try await connection.rows(
            """
            INSERT INTO vigil_schema(component, version, updated) VALUES (\(component), \(migrations.count), now())
            ON CONFLICT (component) DO UPDATE SET version = excluded.version, updated = excluded.updated
            """)
    }

    /// The version `component` is at in `database` (0 when never migrated).
    public static func version(of component: String, in database: PostgresDatabase) async throws -> Int {
        try await database.withConnection("reading the \(component) schema version") { connection in
            let exists = try await connection.rows(
                "SELECT to_regclass('vigil_schema') IS NOT NULL")
            guard try exists.first?.decode(Bool.self) == true else { return 0 }
            let rows = try await connection.rows(
                "SELECT version FROM vigil_schema WHERE component = \(component)")
            return try rows.first?.decode(Int.self) ?? 0
        }
    }

    /// 'VIGL' as a number: the advisory lock key every Vigil process takes to change the schema.
    static let lockKey: Int64 = 0x5649_474C

    static let quiet = Logger(label: "vigil.postgres") { _ in SwiftLogNoOpLogHandler() }
}
