import Foundation
import GRDB
import Synchronization
import Testing
import VigilStore

/// The durability each database asks for is the one its writer runs with: a commit acknowledged on a `FULL`
/// database waits for the disk.
@Suite struct SQLiteFilesTests {
    @Test(arguments: [("FULL", 2), ("NORMAL", 1)])
    func theWriterRunsWithTheDurabilityAskedFor(setting: String, expected: Int) throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let pool = try SQLiteFiles.pool(
            path: folder.url.appendingPathComponent("d.sqlite").path, synchronous: setting,
            migrator: DatabaseMigrator())
        let writer = try pool.write { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
        #expect(writer == expected)
    }

    /// Processes that open a new database file at once each read its migrations as unapplied before any of them
    /// takes the write lock (each migration here holds it a while, so all four read first). Every opener opens
    /// the file, and each migration is applied once.
    @Test func openersRacingOnANewFileAllOpenItMigratedOnce() throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let path = folder.url.appendingPathComponent("d.sqlite").path
        var migrator = DatabaseMigrator()
        for (name, table) in [("v1", "frames"), ("v2", "alerts")] {
            migrator.registerMigration(name) { db in
                try db.execute(sql: "CREATE TABLE \(table)(id TEXT PRIMARY KEY)")
                Thread.sleep(forTimeInterval: 0.2)
            }
        }
        let failures = Mutex<[String]>([])
        let migrations = migrator
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            do {
                _ = try SQLiteFiles.pool(path: path, migrator: migrations)
            } catch {
                failures.withLock { $0.append("\(error)") }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty)
        let pool = try SQLiteFiles.pool(path: path, migrator: migrator)
        #expect(try pool.read { db in try migrator.appliedIdentifiers(db) } == ["v1", "v2"])
        #expect(try pool.read { db in try db.tableExists("frames") && db.tableExists("alerts") })
    }
}
