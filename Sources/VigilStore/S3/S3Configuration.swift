import Foundation

/// Where an `S3BlobStore` keeps its blobs and how it talks to the service. Secrets live in `credentials`,
/// which never prints them.
public struct S3Configuration: Sendable {
    /// Path-style (`endpoint/bucket/key`, what SeaweedFS, MinIO and most S3-compatible services expect) or
    /// virtual-hosted (`bucket.endpoint/key`, AWS's default).
    public enum Addressing: String, Sendable, Codable, CaseIterable {
        case path
        case virtual
    }

    /// `scheme://host[:port]`, no path.
    public var endpoint: URL
    public var bucket: String
    /// Keys start with `<prefix>/`; empty for the bucket's root. No leading or trailing slash.
    public var prefix: String
    public var region: String
    public var addressing: Addressing
    public var credentials: S3Credentials
    /// `x-amz-server-side-encryption` on every write (`AES256` or `aws:kms`), or none.
    public var serverSideEncryption: String?
    /// Blobs larger than this go up as multipart uploads of `partSize` parts.
    public var multipartThreshold = 8 << 20
    public var partSize = 8 << 20
    /// Tries per request, the first included, for time-outs, refused or reset connections, 5xx and SlowDown.
    public var maxAttempts = 10
    /// First back-off (seconds); it doubles per try up to `maxBackoff`, with jitter.
    public var baseBackoff = 0.1
    public var maxBackoff = 4.0
    /// Seconds for one request, connecting included.
    public var requestTimeout = 60.0
    /// Keys per ListObjectsV2 page (S3's maximum is 1,000; tests lower it to exercise paging).
    public var listPageSize = 1000
    /// Keep-alive connections to the endpoint; more than any caller's concurrency, so none waits for one.
    public var maxConnections = 64

    public init(
        endpoint: URL, bucket: String, prefix: String = "", region: String = "us-east-1",
        addressing: Addressing = .path, credentials: S3Credentials, serverSideEncryption: String? = nil
    ) throws {
        guard let scheme = endpoint.scheme?.lowercased(), ["http", "https"].contains(scheme),
            let host = endpoint.host, !host.isEmpty
        else {
            throw VigilError(
                .badConfiguration, "the S3 endpoint must be http(s)://host[:port], e.g. http://127.0.0.1:8333",
                value: endpoint.absoluteString)
        }
        guard Self.isValidBucket(bucket) else {
            throw VigilError(
                .badConfiguration, "'\(bucket)' is not a valid S3 bucket name (3–63 of a-z, 0-9, '.', '-')",
                value: bucket)
        }
        if let sse = serverSideEncryption, !["AES256", "aws:kms"].contains(sse) {
            throw VigilError(
                .badConfiguration, "server-side encryption must be AES256 or aws:kms", value: sse)
        }
        self.endpoint = endpoint
        self.bucket = bucket
        self.prefix = prefix.split(separator: "/").joined(separator: "/")
        self.region = region
        self.addressing = addressing
        self.credentials = credentials
        self.serverSideEncryption = serverSideEncryption
    }

    /// The default AWS endpoint for a region, used when none is configured.
    public static func awsEndpoint(region: String) -> URL {
        URL(string: "https://s3.\(region).amazonaws.com")!
    }

    /// Splits `s3://bucket/prefix/` into bucket and prefix.
    public static func parseLocation(_ text: String) throws -> (bucket: String, prefix: String) {
        guard text.hasPrefix("s3://") else {
            throw VigilError(.badConfiguration, "an S3 location looks like s3://bucket/prefix", value: text)
        }
        let rest = text.dropFirst(5)
        let bucket = String(rest.prefix { $0 != "/" })
        guard isValidBucket(bucket) else {
            throw VigilError(
                .badConfiguration, "'\(bucket)' is not a valid S3 bucket name (3–63 of a-z, 0-9, '.', '-')",
                value: text)
        }
        let prefix = rest.dropFirst(bucket.count).split(separator: "/").joined(separator: "/")
        return (bucket, prefix)
    }

    static func isValidBucket(_ name: String) -> Bool {
        (3...63).contains(name.count)
            && name.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 46 || $0 == 45 }
    }

    /// `s3://bucket/prefix`, for messages.
    public var location: String { "s3://\(bucket)" + (prefix.isEmpty ? "" : "/\(prefix)") }
}
