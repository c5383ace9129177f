import Foundation
import Logging
import Synchronization
import VigilAccess
import VigilAlerts
import VigilPipeline
import VigilStore

/// The one place that turns configuration into the backends of a Vigil process: blobs (a folder or S3),
/// metadata (SQLite in the data folder, or a shared PostgreSQL database), the engine's records, the alert
/// state, tokens and the audit log, and the change feed that tells a process about other processes' writes.
/// Commands, the server, the benchmarks and the test fixtures all take what this builds; nothing else opens a
/// database or names a file in the data folder.
///
/// Long-lived backends (the PostgreSQL pool) run for as long as `with`'s body does. The other stores open on
/// first use and are shared by everything the process runs, so `serve` opens each once.
public final class Backends: Sendable {
    public let home: URL
    public let store: VersionedStore
    /// The shared database, when the configuration names one; nil on the embedded default.
    public let database: PostgresDatabase?
    public let logger: Logger
    private let opened = Mutex(Opened())

    private struct Opened {
        var jobs: (any JobStore)?
        var alerts: AlertDatabase?
        var access: (any AccessStore)?
    }

    private init(home: URL, store: VersionedStore, database: PostgresDatabase?, logger: Logger) {
        self.home = home
        self.store = store
        self.database = database
        self.logger = logger
    }

    /// The schemas every process brings up to date at start (under an advisory lock, so processes starting
    /// together do not race).
    static let schemas = [PostgresMetadataStore.schema, PostgresJobStore.schema, PostgresAccessStore.schema]

    /// Builds the backends `configuration` names (merged over what `<home>/config.json` recorded), runs `body`
    /// with them, and stops them. With `create`, initializes the data folder (and records the configuration).
    public static func with<T>(
        home: URL, configuration: StoreConfiguration = StoreConfiguration(), create: Bool = false,
        environment: [String: String] = ProcessInfo.processInfo.environment, logger: Logger,
        _ body: (Backends) async throws -> T
    ) async throws -> T {
        let merged = try StoreConfiguration.read(home: home).merged(with: configuration)
        guard let location = try merged.databaseLocation() else {
            let store = try await VersionedStore.open(
                home: home, create: create, configuration: configuration, environment: environment, logger: logger)
            return try await body(Backends(home: home, store: store, database: nil, logger: logger))
        }
        let database = try PostgresDatabase(location: location, environment: environment, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await database.run() }
            defer { group.cancelAll() }
            for schema in schemas { try await schema.apply(to: database) }
            let store = try await VersionedStore.open(
                home: home, create: create, configuration: configuration, environment: environment,
                metadata: PostgresMetadataStore(database: database), logger: logger)
            logger.info("metadata in PostgreSQL", metadata: ["database": "\(location)"])
            return try await body(Backends(home: home, store: store, database: database, logger: logger))
        }
    }

    // MARK: The other stores

    /// The engine's records: jobs, datums, pipeline specs.
    public func jobs() throws -> any JobStore {
        try opened.withLock { opened in
            if let jobs = opened.jobs { return jobs }
            let jobs: any JobStore =
                if let database {
                    PostgresJobStore(database: database)
                } else {
                    try SQLiteJobStore.open(home: home)
                }
            opened.jobs = jobs
            return jobs
        }
    }

    /// The notifier's delivery state.
    public func alerts() throws -> AlertDatabase {
        try opened.withLock { opened in
            if let alerts = opened.alerts { return alerts }
            // Also with a shared database the alert state is still a file here: only in an initialized folder.
            try VersionedStore.requireInitialized(home: home)
            let alerts = try AlertDatabase.open(home: home)
            opened.alerts = alerts
            return alerts
        }
    }

    /// API tokens and the audit log.
    public func access() throws -> any AccessStore {
        try opened.withLock { opened in
            if let access = opened.access { return access }
            let access: any AccessStore
            if let database {
                access = PostgresAccessStore(database: database)
            } else {
                // `with` opened the embedded store, so the folder is initialized.
                access = try AccessDatabase.open(home: home)
            }
            opened.access = access
            return access
        }
    }

    /// What tells this process's services about other processes' writes: LISTEN/NOTIFY on the shared
    /// database, or inotify on the data folder's databases.
    public func changeFeed() -> any ChangeFeed {
        if let database { return PostgresChangeFeed(database: database) }
        return FolderChangeFeed(
            folder: home,
            files: Set(
                [VersionedStore.metadataFile, SQLiteJobStore.fileName, AlertDatabase.fileName].map { $0 + "-wal" }))
    }

    /// Everything the pipeline engine needs, with `stages`; external commands get their folders under
    /// `<home>/scratch`.
    public func engineEnvironment(stages: StageRegistry) throws -> EngineEnvironment {
        try EngineEnvironment(store: store, jobs: try jobs(), stages: stages, home: home, logger: logger)
    }
}
