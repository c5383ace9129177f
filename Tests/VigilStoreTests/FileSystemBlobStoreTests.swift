import Foundation
import Testing
import VigilStore

/// What only the filesystem store has: its folder layout and the leftovers of writers killed mid-write.
@Suite("FileSystemBlobStore")
struct FileSystemBlobStoreTests {
    @Test func leftoversOfKilledWritersAreNeverListedAndGcRemovesThem() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let root = folder.url.appendingPathComponent("blobs")
        let store = try FileSystemBlobStore(root: root)
        let kept = try await store.put(Data("whole blob"))
        // What `kill -9` leaves behind: a half-written temp file beside the blobs, and one from a large stream.
        let halfWritten = root.appendingPathComponent(String(kept.hash.hex.prefix(2)) + "/.w1234abcd")
        try Data("half a bl".utf8).write(to: halfWritten)
        let halfStreamed = root.appendingPathComponent(".tmp/stream.99")
        try Data("half a stream".utf8).write(to: halfStreamed)

        var listed: [BlobHash] = []
        for try await info in store.list() { listed.append(info.hash) }
        #expect(listed == [kept.hash])

        // Too recent: a live writer may still own them.
        #expect(try await store.removeAbandonedWrites(olderThan: Date().addingTimeInterval(-3_600)) == 0)
        #expect(try await store.removeAbandonedWrites(olderThan: Date().addingTimeInterval(60)) == 2)
        #expect(!FileManager.default.fileExists(atPath: halfWritten.path))
        #expect(!FileManager.default.fileExists(atPath: halfStreamed.path))
        #expect(try await store.get(kept.hash) == Data("whole blob"))
    }

    /// What the issue saw: a command (or a disk) changed a stored blob's bytes. A read returns an error, never
    /// the changed bytes.
    @Test func aBlobWhoseBytesChangedIsReadAsCorruptData() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let root = folder.url.appendingPathComponent("blobs")
        let store = try FileSystemBlobStore(root: root)
        let written = try await store.put(Data("original frame"))
        let path = try #require(store.localPath(of: written.hash))
        chmod(path, 0o644)
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("X".utf8))
        try handle.close()
        let error = await #expect(throws: VigilError.self) { try await store.get(written.hash) }
        #expect(error?.code == .corruptData && error?.value == written.hash.hex)
        #expect(error?.message.contains("does not hash to its address") == true)
    }

    @Test func blobsAreReadOnlyPrivateFilesNamedByTheirHash() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let root = folder.url.appendingPathComponent("blobs")
        let store = try FileSystemBlobStore(root: root)
        let written = try await store.put(Data("frame"))
        let hex = written.hash.hex
        let path = root.appendingPathComponent(String(hex.prefix(2))).appendingPathComponent(String(hex.dropFirst(2)))
        #expect(try Data(contentsOf: path) == Data("frame"))
        // Read-only for its owner, nothing for anyone else, whatever the process's umask.
        let permissions = try FileManager.default.attributesOfItem(atPath: path.path)[.posixPermissions] as? Int
        #expect(permissions == 0o400)
        let folderMode =
            try FileManager.default.attributesOfItem(atPath: path.deletingLastPathComponent().path)[
                .posixPermissions] as? Int
        #expect(folderMode == 0o700)
    }

    @Test func aMovedFileBecomesAReadOnlyBlobWhetherSpooledOrNot() async throws {
        let folder = try TemporaryFolder()
        defer { folder.remove() }
        let store = try FileSystemBlobStore(root: folder.url.appendingPathComponent("blobs"))
        // A spool file is read-only from the start, so its move changes no mode.
        let spool = try SpoolFile(in: folder.url, name: "spooled")
        try Data("spooled frame".utf8).withUnsafeBytes { try spool.append($0) }
        let spooledHash = try spool.finish()
        #expect(
            try FileManager.default.attributesOfItem(atPath: spool.url.path)[.posixPermissions] as? Int == 0o400)
        let spooled = try await store.put(movingFile: spool.url, hash: spooledHash, size: spool.size)
        #expect(!FileManager.default.fileExists(atPath: spool.url.path))
        // Any other file moved in is made read-only.
        let plain = folder.url.appendingPathComponent("plain")
        let bytes = Data("plain frame".utf8)
        #expect(
            FileManager.default.createFile(atPath: plain.path, contents: bytes, attributes: [.posixPermissions: 0o644]))
        let moved = try await store.put(movingFile: plain, hash: BlobHash(of: bytes), size: Int64(bytes.count))
        for written in [spooled, moved] {
            let path = try #require(store.localPath(of: written.hash))
            #expect(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int == 0o400)
        }
        #expect(try await store.get(spooled.hash) == Data("spooled frame".utf8))
        #expect(try await store.get(moved.hash) == bytes)
    }
}
