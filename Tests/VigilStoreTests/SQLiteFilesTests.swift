import Foundation
import GRDB
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
}
