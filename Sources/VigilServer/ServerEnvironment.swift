import Foundation
import Logging
import Prometheus
import VigilAccess
import VigilAlerts
import VigilPipeline
import VigilStages
import VigilStore

/// What the HTTP API works on: the store, the engine's records, the alerts, the tokens and audit log, and the
/// metrics registry it exposes.
public struct ServerEnvironment: Sendable {
    public var store: VersionedStore
    public var jobs: any JobStore
    public var alerts: any AlertStore
    public var access: any AccessStore
    public var metrics: PrometheusCollectorRegistry
    public var configuration: ServerConfiguration
    /// Where uploads are spooled while they stream in (on the blobs' filesystem).
    public var scratch: URL
    public var logger: Logger
    /// Where datums are queued for workers on any host (a shared database); nil on the embedded default,
    /// whose engine runs every datum itself (`GET /v1/workers` lists none).
    public var queue: (any DatumQueue)?
    /// Failed sign-ins per address and token id (429 past the limit); one per server process.
    public var throttle = SignInThrottle()
    /// The dashboard's image previews, made once each, one at a time.
    public var thumbnails = ThumbnailCache()
    /// Uploads arriving together share a commit.
    public var uploads = UploadCommits()
    /// Where an upload is offered to be judged and detected while it is committed, when the validate and
    /// detect stages run in this process (`FramePrefetch`); nil: never.
    public var prefetch: FramePrefetch? = .shared

    public init(
        store: VersionedStore, jobs: any JobStore, alerts: any AlertStore, access: any AccessStore,
        metrics: PrometheusCollectorRegistry, configuration: ServerConfiguration = ServerConfiguration(),
        scratch: URL, logger: Logger
    ) {
        self.store = store
        self.jobs = jobs
        self.alerts = alerts
        self.access = access
        self.metrics = metrics
        self.configuration = configuration
        self.scratch = scratch
        self.logger = logger
    }
}

/// The API's settings.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    /// The largest image upload, in bytes (a larger body is refused with 413 while it streams in).
    public var maxImageBytes = 20 << 20
    /// Where uploads go, and the repos a customer may read (scoped to its devices).
    public var imagesRepo = "images"
    public var rulesRepo = "rules"
    /// Legal holds, one record per hold (`LegalHoldBook`).
    public var holdsRepo = "holds"
    /// Verdicts on alerts (confirmed or false alarm), one record per alert (`VerdictBook`).
    public var verdictsRepo = "verdicts"
    /// Labelled datasets exported from the judged alerts (`DatasetExport`).
    public var datasetsRepo = "datasets"
    /// The stages' output repos a customer reads (scoped to its devices), and the analytics' output.
    public var validateRepo = "validate"
    public var detectRepo = "detect"
    public var threatsRepo = "threats"
    public var statsRepo = "stats"
    /// Seconds a connection may send nothing: before its first request is whole, between requests, or in the
    /// middle of a body. Past it the connection is closed, so silent clients cannot hold connections open.
    public var idleTimeout = 60.0
    /// Seconds an upload's body may take in all, however steadily it trickles in (408 `body-timeout` past it).
    public var bodyTimeout = 120.0
    /// Where users reach the service (`https://vigil.example.com`), when it is behind a proxy or TLS: an HTTPS
    /// URL makes the sign-in cookie `Secure`.
    public var publicURL: URL?
    /// Connections served at once; more wait in the listen queue until one closes.
    public var maxConnections = 4_096

    public init() {}
}
