import GRDB

#if canImport(Glibc)
    import Glibc
#endif

/// Opening Vigil's SQLite databases the one way they are meant to be opened: a WAL pool that several processes
/// share (the CLI and a running engine), waiting up to 30 s for another process's write lock, migrated.
public enum SQLiteFiles {
    /// A pool on `path`, created and migrated if needed. `synchronous` is SQLite's setting for the database's
    /// durability against power loss (`FULL` for the store's heads; `NORMAL` where the store's commits can
    /// rebuild what a power cut loses).
    public static func pool(
        path: String, synchronous: String = "FULL", migrator: DatabaseMigrator
    ) throws
        -> DatabasePool
    {
        var configuration = Configuration()
        configuration.busyMode = .timeout(30)
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = \(synchronous)") }
        // Made private before SQLite opens it: its journal files take the database file's mode.
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        if fd >= 0 { close(fd) }
        let pool = try openPool(path: path, configuration: configuration)
        // GRDB sets `synchronous = NORMAL` on the writer after `prepareDatabase` runs, when it switches the file
        // to WAL; only the writer's setting decides whether a commit waits for the disk, so it is set again here.
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = \(synchronous)") }
        try migrate(pool, with: migrator)
        return pool
    }

    /// How many times an open or a migration that lost a race with another process is tried again.
    static let attempts = 8

    /// Opens the file, trying again while another process is switching it to WAL: that switch needs the file
    /// to itself, and SQLite answers "database is locked" at once instead of waiting (a wait could deadlock), so
    /// processes that open a new file together would otherwise fail. Each try waits a few milliseconds more.
    static func openPool(path: String, configuration: Configuration) throws -> DatabasePool {
        var attempt = 1
        while true {
            do {
                return try DatabasePool(path: path, configuration: configuration)
            } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY && attempt < attempts {
                usleep(UInt32(attempt) * 5_000)
                attempt += 1
            }
        }
    }

    /// Runs the migrations `pool` lacks. GRDB reads which ones are applied before it takes the write lock for
    /// each, so processes that open a new file together (`vigil serve` and `vigil notify` started at once) both
    /// see none applied, and the second to get the lock fails to create what the first created ("table already
    /// exists"). Its failed migration is rolled back; reading again finds the first one's work applied, and only
    /// what is left runs.
    static func migrate(_ pool: DatabasePool, with migrator: DatabaseMigrator) throws {
        var attempt = 1
        while true {
            do {
                try migrator.migrate(pool)
                return
            } catch {
                let done = (try? pool.read { db in try migrator.hasCompletedMigrations(db) }) ?? false
                if done { return }
                guard attempt < attempts else { throw error }
                attempt += 1
            }
        }
    }

    /// A number that changes each time another connection commits to the file `writer` writes, and never for
    /// `writer`'s own commits (`PRAGMA data_version`). A process opens one pool, so one writer, per file: another
    /// connection is another process.
    public static func commitsByOthers(_ writer: any DatabaseWriter) async throws -> Int {
        try await writer.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA data_version") ?? 0 }
    }

    /// An in-memory database (gone with the object), migrated: for tests.
    public static func memory(migrator: DatabaseMigrator) throws -> DatabaseQueue {
        let queue = try DatabaseQueue()
        try migrator.migrate(queue)
        return queue
    }
}
