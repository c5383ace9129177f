import Foundation

/// A small book of JSON records kept as versioned data in a repo of its own (legal holds, verdicts on alerts):
/// each record a file, each change one commit by the person who made it, the repo made with the first record.
/// The repo's log is the book's history.
public struct RecordBook: Sendable {
    public let store: VersionedStore
    public let repo: String
    /// The repo's description, given when the first record makes it.
    public let description: String
    /// What a record is called in errors: `hold`, `verdict`.
    public let kind: String

    public init(store: VersionedStore, repo: String, description: String, kind: String) {
        self.store = store
        self.repo = repo
        self.description = description
        self.kind = kind
    }

    /// Commits `record` at `path`, replacing what was there, as `author`.
    public func write(_ record: some Encodable, at path: String, author: String, message: String) async throws {
        try await store.createRepoIfMissing(repo, description: description)
        let writer = try await store.openCommit(repo: repo, author: author)
        do {
            _ = try await writer.put(path, data: try Self.encoder.encode(record))
            try await writer.finish(message: message)
        } catch {
            await writer.abandon()
            throw error
        }
    }

    /// The record at `path` of the file `hash`, or `corrupt-data` naming it.
    public func read<Record: Decodable>(_ type: Record.Type, at path: String, hash: BlobHash) async throws -> Record {
        let data = try await store.readFile(repo: repo, path: path, hash: hash)
        do {
            return try Self.decoder.decode(type, from: data)
        } catch {
            throw VigilError(.corruptData, "the \(kind) record \(repo):\(path) is unreadable: \(error)", value: path)
        }
    }

    /// Records keep whole seconds (ISO 8601 without fractions), so that one reads back as it was written.
    public static func wholeSeconds(_ date: Date) -> Date {
        Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down))
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()
}
