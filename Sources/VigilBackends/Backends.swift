import Foundation
import Logging
import Synchronization
import VigilAccess
import VigilAlerts
import VigilPipeline
import VigilStore

/// The one place that turns configuration into the backends of a Vigil process: blobs (a folder or S3),
/// metadata (SQLite in the data folder, or a shared PostgreSQL database), the engine's records, the alert
/// state, tokens and the audit log, the S3 ingest ledger, and the change feed that tells a process about other processes' writes.
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
        var alerts: (any AlertStore)?
        var access: (any AccessStore)?
        var ingestLedger: (any IngestLedger)?
    }

    private init(home: URL, store: VersionedStore, database: PostgresDatabase?, logger: Logger) {
        self.home = home
        self.store = store
        self.database = database
        self.logger = logger
    }

    /// The backends of a configuration without a shared database (SQLite in the data folder, blobs there or on
    /// S3): nothing in them runs as a service, so they need no `with` scope (test fixtures hold them in an
    /// object). A configuration that names a database is refused: use `with`.
    public static func embedded(
        home: URL, configuration: StoreConfiguration = StoreConfiguration(), create: Bool = false,
        environment: [String: String] = ProcessInfo.processInfo.environment, logger: Logger
    ) async throws -> Backends {
        let merged = try StoreConfiguration.read(home: home).merged(with: configuration)
        if let database = merged.database {
            throw VigilError(
                .badConfiguration, "a shared database runs a connection pool: open it with Backends.with",
                value: database)
        }
        let store = try await VersionedStore.open(
            home: home, create: create, configuration: configuration, environment: environment, logger: logger)
        return Backends(home: home, store: store, database: nil, logger: logger)
    }

    /// Every state in memory, gone with the object: for test fixtures, which want the set a process gets
    /// without files or servers. `home` is for scratch space only.
    public static func inMemory(home: URL, logger: Logger) throws -> Backends {
        let store = VersionedStore(blobs: InMemoryBlobStore(), metadata: try SQLiteMetadataStore(), logger: logger)
        let backends = Backends(home: home, store: store, database: nil, logger: logger)
        let opened = Opened(
            jobs: try SQLiteJobStore(), alerts: try SQLiteAlertStore(), access: try AccessDatabase(),
            ingestLedger: try SQLiteIngestLedger())
        backends.opened.withLock { $0 = opened }
        return backends
    }

    /// The schemas every process brings up to date at start (under an advisory lock, so processes starting
    /// together do not race).
    static let schemas = [
        PostgresMetadataStore.schema, PostgresJobStore.schema, PostgresAlertStore.schema, PostgresAccessStore.schema,
        PostgresIngestLedger.schema,
    ]

    /// Builds the backends `configuration` names (merged over what `<home>/config.json` recorded), runs `body`
    /// with them, and stops them. With `create`, initializes the data folder (and records the configuration).
    public static func with<T>(
        home: URL, configuration: StoreConfiguration = StoreConfiguration(), create: Bool = false,
        environment: [String: String] = ProcessInfo.processInfo.environment, logger: Logger,
        _ body: (Backends) async throws -> T
    ) async throws -> T {
        let merged = try StoreConfiguration.read(home: home).merged(with: configuration)
        guard let location = try merged.databaseLocation() else {
            return try await body(
                try await embedded(
                    home: home, configuration: configuration, create: create, environment: environment, logger: logger))
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
        try store(\.jobs, shared: PostgresJobStore.init, embedded: SQLiteJobStore.open)
    }

    /// The notifier's state: alerts, deliveries, the threats cursor.
    public func alerts() throws -> any AlertStore {
        try store(\.alerts, shared: PostgresAlertStore.init, embedded: SQLiteAlertStore.open)
    }

    /// API tokens and the audit log.
    public func access() throws -> any AccessStore {
        try store(\.access, shared: PostgresAccessStore.init, embedded: AccessDatabase.open)
    }

    /// What `vigil put s3://…` remembers of the objects it fetched.
    public func ingestLedger() throws -> any IngestLedger {
        try store(\.ingestLedger, shared: PostgresIngestLedger.init, embedded: SQLiteIngestLedger.open)
    }

    /// The store at `slot`, opened on first use: on the shared database, or in the data folder (`with` opened
    /// the embedded metadata store, so the folder is initialized).
    private func store<Store: Sendable>(
        _ slot: WritableKeyPath<Opened, Store?>, shared: (PostgresDatabase) -> Store,
        embedded: (URL) throws -> Store
    ) throws -> Store {
        try opened.withLock { opened in
            if let store = opened[keyPath: slot] { return store }
            let store = try database.map(shared) ?? embedded(home)
            opened[keyPath: slot] = store
            return store
        }
    }

    /// What tells this process's services about other processes' writes: LISTEN/NOTIFY on the shared
    /// database, or inotify on the data folder's databases.
    public func changeFeed() -> any ChangeFeed {
        if let database { return PostgresChangeFeed(database: database) }
        return FolderChangeFeed(
            folder: home,
            files: Set(
                [VersionedStore.metadataFile, SQLiteJobStore.fileName, SQLiteAlertStore.fileName].map { $0 + "-wal" }),
            commitsByOthers: { [self] in await commitsByOthers() })
    }

    /// What other processes have committed to the databases the folder feed watches (the metadata, the jobs,
    /// the alerts), or nil where it cannot be told. A database this process has not opened counts as unchanged:
    /// it has read nothing there that another process's commit could make stale (once it opens one, the
    /// count it then reads is new, so the next write is reported).
    private func commitsByOthers() async -> [Int]? {
        let databases = opened.withLock { [store.metadata, $0.jobs, $0.alerts] as [Any?] }
        var counts: [Int] = []
        for database in databases {
            guard let database else {
                counts.append(-1)
                continue
            }
            guard let counter = database as? any CommitsByOthers, let count = try? await counter.commitsByOthers()
            else { return nil }
            counts.append(count)
        }
        return counts
    }

    /// Where datums are queued for workers on any host: on the shared database; nil on the embedded default,
    /// whose engine runs every datum itself.
    public func datumQueue() -> (any DatumQueue)? {
        database.map(PostgresDatumQueue.init)
    }

    /// Everything the pipeline engine needs, with `stages`; external commands get their folders under
    /// `<home>/scratch`. On a shared database, jobs queue their datums for workers on any host.
    public func engineEnvironment(stages: StageRegistry) throws -> EngineEnvironment {
        var environment = try EngineEnvironment(
            store: store, jobs: try jobs(), stages: stages, home: home, logger: logger)
        environment.queue = datumQueue()
        return environment
    }
}
