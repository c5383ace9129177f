import ArgumentParser
import Foundation
import Logging
import VigilBackends
import VigilStore

/// Options every command that touches data shares: where the data folder is, where its blobs and its database
/// live, and how chatty to be. Settings resolve flag, then environment, then the data folder's `config.json`
/// (which `vigil init --store … --database …` writes), then the embedded default (`<home>/blobs`, SQLite).
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: "The data folder (default: $VIGIL_HOME, or ./.vigil).")
    var home: String?

    @Option(
        name: .customLong("store"),
        help: "Keep blobs in S3: s3://bucket/prefix (default: $VIGIL_STORE, or what `vigil init` recorded).")
    var storeLocation: String?

    @Option(
        name: .customLong("s3-endpoint"),
        help: "The S3 service, e.g. http://127.0.0.1:8333 (default: $VIGIL_S3_ENDPOINT, or AWS for the region).")
    var s3Endpoint: String?

    @Option(name: .customLong("s3-region"), help: "The S3 region (default: $AWS_REGION, or us-east-1).")
    var s3Region: String?

    @Flag(help: "Bucket in the path (default with --s3-endpoint) or in the host name (default on AWS).")
    var s3Addressing: S3AddressingFlag?

    @Option(
        name: .customLong("s3-sse"),
        help: "Ask S3 to encrypt every blob it stores: AES256 or aws:kms (default: $VIGIL_S3_SSE).")
    var s3ServerSideEncryption: String?

    @Option(
        name: .customLong("database"),
        help: """
            Keep metadata, jobs, alerts and tokens in PostgreSQL: postgres://USER@HOST:PORT/DATABASE \
            (default: $VIGIL_DATABASE_URL, or what `vigil init` recorded; the password comes from $PGPASSWORD \
            or ?passwordFile=PATH).
            """)
    var database: String?

    @Flag(name: .long, help: "Log what happens, to standard error.")
    var verbose = false

    var homeURL: URL {
        let path = home ?? ProcessInfo.processInfo.environment["VIGIL_HOME"] ?? ".vigil"
        return URL(fileURLWithPath: path, isDirectory: true).standardizedFileURL
    }

    var logger: Logger {
        let provider = TracingOptions.metadataProvider()
        var logger = Logger(label: "vigil") { StreamLogHandler.standardError(label: $0, metadataProvider: provider) }
        logger.logLevel = verbose ? .debug : .warning
        return logger
    }

    /// The blob and database settings given here, by flag or environment; unset fields fall back to
    /// `config.json`.
    var storeConfiguration: StoreConfiguration {
        get throws {
            let environment = ProcessInfo.processInfo.environment
            func value(_ flag: String?, _ name: String) -> String? {
                flag ?? environment[name].flatMap { $0.isEmpty ? nil : $0 }
            }
            var addressing = s3Addressing?.addressing
            if addressing == nil, let text = value(nil, "VIGIL_S3_ADDRESSING") {
                guard let parsed = S3Configuration.Addressing(rawValue: text) else {
                    throw VigilError(.badConfiguration, "VIGIL_S3_ADDRESSING must be path or virtual", value: text)
                }
                addressing = parsed
            }
            return StoreConfiguration(
                store: value(storeLocation, "VIGIL_STORE"), s3Endpoint: value(s3Endpoint, "VIGIL_S3_ENDPOINT"),
                s3Region: s3Region, s3Addressing: addressing,
                s3ServerSideEncryption: value(s3ServerSideEncryption, "VIGIL_S3_SSE"),
                database: value(database, "VIGIL_DATABASE_URL"))
        }
    }

    /// Runs `body` with every backend this configuration names (see `Backends`), stopped afterwards.
    func withBackends<T>(create: Bool = false, _ body: (Backends) async throws -> T) async throws -> T {
        try await Backends.with(
            home: homeURL, configuration: try storeConfiguration, create: create, logger: logger, body)
    }

    /// Settings for reading another S3 location (`vigil put … s3://…`) with this store's endpoint, region and
    /// credentials.
    func s3Source(_ location: String) throws -> S3Configuration {
        var configuration = try StoreConfiguration.read(home: homeURL).merged(with: try storeConfiguration)
        configuration.store = location
        return try configuration.s3Configuration()!
    }
}

enum S3AddressingFlag: String, EnumerableFlag {
    case s3PathStyle
    case s3VirtualHosted

    var addressing: S3Configuration.Addressing { self == .s3PathStyle ? .path : .virtual }

    static func help(for value: S3AddressingFlag) -> ArgumentHelp? {
        value == .s3PathStyle
            ? "S3 path-style addressing: endpoint/bucket/key." : "S3 virtual-hosted addressing: bucket.endpoint/key."
    }
}

/// `--json` for commands whose output scripts read.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print JSON instead of a table.")
    var json = false
}
