import Foundation
import VigilStore

/// The objects under an `s3://bucket/prefix/` that `vigil put` copies into a commit, each at its path relative
/// to the prefix (the seed's "images arrive in S3"). The source uses the store's endpoint, region and
/// credentials.
///
/// Skipping what is already there: an object is fetched and hashed, and staged only when its SHA-256 differs
/// from the file at its destination. So that a re-run does not fetch everything again, the `IngestLedger`
/// remembers each object's ETag and size with the hash they gave (see there).
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

    /// Where the ledger keys of this location's objects start.
    var ledgerPrefix: String {
        let prefix = client.configuration.prefix
        return "s3://\(client.configuration.bucket)/" + (prefix.isEmpty ? "" : prefix + "/")
    }
}
