import Foundation

/// Where a data folder keeps its blobs and its database, as `<home>/config.json` records it (`vigil init
/// --store s3://… --database postgres://…` writes it, so later commands need no flags). Without a database the
/// state stays in SQLite files in the data folder. Credentials never go here: S3's come from the environment or
/// the AWS shared credentials file, the database password from `PGPASSWORD` or a password file.
public struct StoreConfiguration: Codable, Sendable, Equatable {
    /// `s3://bucket/prefix`, or nil for `<home>/blobs`.
    public var store: String?
    public var s3Endpoint: String?
    public var s3Region: String?
    public var s3Addressing: S3Configuration.Addressing?
    /// `AES256` or `aws:kms`.
    public var s3ServerSideEncryption: String?
    /// `postgres://USER@HOST:PORT/DATABASE`, or nil for SQLite files in the data folder.
    public var database: String?

    public init(
        store: String? = nil, s3Endpoint: String? = nil, s3Region: String? = nil,
        s3Addressing: S3Configuration.Addressing? = nil, s3ServerSideEncryption: String? = nil,
        database: String? = nil
    ) {
        self.store = store
        self.s3Endpoint = s3Endpoint
        self.s3Region = s3Region
        self.s3Addressing = s3Addressing
        self.s3ServerSideEncryption = s3ServerSideEncryption
        self.database = database
    }

    public static let fileName = "config.json"

    /// What is set in `overrides` wins, field by field.
    public func merged(with overrides: StoreConfiguration) -> StoreConfiguration {
        StoreConfiguration(
            store: overrides.store ?? store, s3Endpoint: overrides.s3Endpoint ?? s3Endpoint,
            s3Region: overrides.s3Region ?? s3Region, s3Addressing: overrides.s3Addressing ?? s3Addressing,
            s3ServerSideEncryption: overrides.s3ServerSideEncryption ?? s3ServerSideEncryption,
            database: overrides.database ?? database)
    }

    /// The PostgreSQL database this names; nil for the embedded SQLite files.
    public func databaseLocation() throws -> PostgresLocation? {
        guard let database else { return nil }
        guard PostgresLocation.isPostgresURL(database) else {
            throw VigilError(
                .badConfiguration,
                "'\(PostgresLocation.redacted(database))' is not a database Vigil can use: give a "
                    + "postgres://USER@HOST:PORT/DATABASE URL, or leave it out for SQLite in the data folder",
                value: PostgresLocation.redacted(database))
        }
        return try PostgresLocation.parse(database)
    }

    /// The folder's configuration; empty when it has none.
    public static func read(home: URL) throws -> StoreConfiguration {
        let file = home.appendingPathComponent(fileName)
        guard let data = try? Data(contentsOf: file) else { return StoreConfiguration() }
        do {
            return try JSONDecoder().decode(StoreConfiguration.self, from: data)
        } catch {
            throw VigilError(
                .badConfiguration, "'\(file.path)' is not a valid store configuration: \(error)", value: file.path)
        }
    }

    public func write(home: URL) throws {
        let file = home.appendingPathComponent(Self.fileName)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do {
            try encoder.encode(self).write(to: file, options: .atomic)
        } catch {
            throw VigilError(.io, "cannot write '\(file.path)': \(error.localizedDescription)", value: file.path)
        }
    }

    /// The S3 settings this describes, with credentials from `environment` (see `S3Credentials.resolve`);
    /// nil when blobs stay in the data folder. `VIGIL_S3_MAX_ATTEMPTS` bounds the tries per request.
    public func s3Configuration(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws
        -> S3Configuration?
    {
        guard let store else { return nil }
        let (bucket, prefix) = try S3Configuration.parseLocation(store)
        let region = s3Region ?? environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? "us-east-1"
        let endpoint: URL
        if let text = s3Endpoint {
            guard let url = URL(string: text) else {
                throw VigilError(.badConfiguration, "'\(text)' is not a URL", value: text)
            }
            endpoint = url
        } else {
            endpoint = S3Configuration.awsEndpoint(region: region)
        }
        // A custom endpoint is most likely S3-compatible (path-style); AWS itself prefers virtual-hosted.
        let addressing = s3Addressing ?? (s3Endpoint == nil ? .virtual : .path)
        var configuration = try S3Configuration(
            endpoint: endpoint, bucket: bucket, prefix: prefix, region: region, addressing: addressing,
            credentials: try S3Credentials.resolve(environment: environment),
            serverSideEncryption: s3ServerSideEncryption)
        if let text = environment["VIGIL_S3_MAX_ATTEMPTS"] {
            guard let attempts = Int(text), attempts >= 1 else {
                throw VigilError(.badConfiguration, "VIGIL_S3_MAX_ATTEMPTS must be a whole number ≥ 1", value: text)
            }
            configuration.maxAttempts = attempts
        }
        return configuration
    }
}
