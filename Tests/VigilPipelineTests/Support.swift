import Foundation
import Logging
import VigilStore

/// A store over in-memory parts, and a helper that commits files given as path → text.
func makeStore() throws -> VersionedStore {
    VersionedStore(
        blobs: InMemoryBlobStore(), metadata: try SQLiteMetadataStore(),
        logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
}

@discardableResult
func commit(
    _ files: [String: String], to repo: String, in store: VersionedStore, deleting: [String] = []
)
    async throws -> CommitInfo
{
    let writer = try await store.openCommit(repo: repo)
    for (path, text) in files.sorted(by: { $0.key < $1.key }) { try await writer.put(path, data: Data(text.utf8)) }
    for path in deleting { try await writer.delete(path) }
    return try await writer.finish()
}
