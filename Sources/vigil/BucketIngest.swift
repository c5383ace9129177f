import Foundation
import VigilStore

/// The objects under an `s3://bucket/prefix/` that `vigil put` copies into a commit, each at its path relative
/// to the prefix (the seed's "images arrive in S3"). The source uses the store's endpoint, region and
/// credentials.
///
/// Skipping what is already there: an object is fetched and hashed, and staged only when its SHA-256 differs
/// from the file at its destination. So that a re-run does not fetch everything again, `<home>/s3-ingest.json`
/// remembers each object's ETag and size with the hash they gave; an object whose ETag and size are unchanged
/// and whose remembered hash is what the destination holds is skipped without a download. The ledger is only a
/// shortcut: a missing or stale entry costs a download, never a wrong skip (the destination is always compared).
struct BucketIngest {
    struct Object: Sendable {
        var info: S3ObjectInfo
        var destination: String
    }

    let client: S3Client
    let location: String
    let objects: [Object]

    /// Lists every object under the location (all pages), folder markers left out.
    static func list(_ location: String, under prefix: String, options: StoreOptions) async throws -> BucketIngest {
        let client = S3Client(configuration: try options.s3Source(location), logger: options.logger)
        let sourcePrefix = client.configuration.prefix.isEmpty ? "" : client.configuration.prefix + "/"
        var objects: [Object] = []
        for try await info in client.listObjects(prefix: sourcePrefix) where !info.key.hasSuffix("/") {
            let relative = String(info.key.dropFirst(sourcePrefix.count))
            objects.append(Object(info: info, destination: try StorePath.normalize(prefix + "/" + relative)))
        }
        return BucketIngest(client: client, location: location, objects: objects)
    }

    /// The object's bytes; an object deleted since the listing is an error that names it.
    func fetch(_ object: Object) async throws -> Data {
        guard let data = try await client.getObject(object.info.key) else {
            throw VigilError(
                .pathNotFound, "s3://\(client.configuration.bucket)/\(object.info.key) vanished during the put",
                value: object.info.key)
        }
        return data
    }

    func ledgerKey(_ object: Object) -> String {
        "s3://\(client.configuration.bucket)/\(object.info.key)"
    }
}

/// `<home>/s3-ingest.json`: object → (ETag, size, SHA-256) as last fetched. See `BucketIngest`.
struct IngestLedger: Codable {
    struct Entry: Codable, Sendable {
        var etag: String
        var size: Int64
        var hash: BlobHash
    }

    var objects: [String: Entry] = [:]

    static func load(home: URL) -> IngestLedger {
        guard let data = try? Data(contentsOf: file(home)),
            let ledger = try? JSONDecoder().decode(IngestLedger.self, from: data)
        else { return IngestLedger() }
        return ledger
    }

    func save(home: URL) throws {
        do {
            try JSONEncoder().encode(self).write(to: Self.file(home), options: .atomic)
        } catch {
            throw VigilError(
                .io, "cannot write '\(Self.file(home).path)': \(error.localizedDescription)",
                value: Self.file(home).path)
        }
    }

    private static func file(_ home: URL) -> URL { home.appendingPathComponent("s3-ingest.json") }
}
