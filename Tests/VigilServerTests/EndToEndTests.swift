import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Prometheus
import ServerTestSupport
import Testing
import VigilAccess
import VigilAlertSink
import VigilAlerts
import VigilBackends
import VigilPipeline
import VigilServer
import VigilStages
import VigilStore
import VigilVision

/// A camera uploads a real photo over HTTP; validate, detect (the real detector), threats and the notifier
/// run as they do in `vigil serve`, on backends built by the composition root from configuration as `serve`
/// builds them: the embedded default, and every state in PostgreSQL; the alert arrives at a real sink, signed.
@Suite("End to end: upload → alert", .serialized)
struct EndToEndTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
        case embedded
        case postgres

        var testDescription: String { rawValue }
        static let testable: [Backend] = PostgresServer.canRun ? allCases : [.embedded]

        /// The configuration `vigil serve` would get: nothing, or `--database URL` (a fresh database).
        func configuration() async throws -> (StoreConfiguration, [String: String]) {
            switch self {
            case .embedded:
                return (StoreConfiguration(), [:])
            case .postgres:
                let server = try await PostgresServer.shared()
                let url = server.url(database: try await server.makeDatabase())
                return (StoreConfiguration(database: url), server.environment)
            }
        }
    }

    @Test(arguments: Backend.testable)
    func aDeviceUploadBecomesASignedAlertAtTheSink(backend: Backend) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-e2e-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let (configuration, environment) = try await backend.configuration()
        try await Backends.with(
            home: folder, configuration: configuration, create: true,
            environment: ProcessInfo.processInfo.environment.merging(environment) { $1 }, logger: quiet
        ) { backends in
            try await uploadToAlert(backends)
        }
    }

    private func uploadToAlert(_ backends: Backends) async throws {
        let store = backends.store
        let engine = try backends.engineEnvironment(stages: .vigil)
        for repo in ["images", "rules"] { try await store.createRepo(repo) }
        try await ServerFixture.commit(["/customers.yaml": Data(ServerFixture.rules.utf8)], to: "rules", in: store)
        let manager = PipelineManager(environment: engine)
        for yaml in [
            "{name: validate, input: {pfs: {repo: images, glob: '/*'}}, transform: {stage: validate}}",
            "{name: detect, input: {pfs: {repo: validate, glob: '/valid/*'}}, transform: {stage: detect}}",
            """
            {name: threats, input: {cross: [{pfs: {repo: detect, glob: '/*/*'}}, \
            {pfs: {repo: rules, glob: '/', reprocess: false}}]}, transform: {stage: threats}}
            """,
        ] {
            try await manager.create(try PipelineSpecParser.parse(yaml), source: yaml)
        }
        let access = try backends.access()
        let device = try await access.createToken(name: "frontdoor", role: .device, device: "frontdoor", at: Date())
        let customer = try await access.createToken(name: "acme", role: .customer, customer: "acme", at: Date())
        let operatorToken = try await access.createToken(name: "ops", role: .operator, at: Date())
        let server = ServerEnvironment(
            store: store, jobs: engine.jobs, alerts: try backends.alerts(), access: access,
            metrics: PrometheusCollectorRegistry(), scratch: engine.scratch, logger: quiet)
        let secret = "an-end-to-end-secret-0123456789"
        let sink = try AlertSink(signature: try AlertSignature(secret: secret))
        let photo = try Data(contentsOf: Self.root.appendingPathComponent(".deps/model/samples/bus.jpg"))

        let upload = try await sink.whileRunning(logger: quiet) { url in
            let transport = try HTTPAlertTransport(url: url, signature: try AlertSignature(secret: secret))
            let notifier = try Notifier(
                store: store, database: server.alerts, transport: transport, changes: backends.changeFeed(),
                logger: quiet)
            let pipelines = PipelineEngine(environment: engine, changes: backends.changeFeed())
            let upload = try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await pipelines.run() }
                group.addTask { try await notifier.run() }
                let app = Application(router: VigilAPI.router(server), logger: quiet)
                let upload = try await app.test(.live) { client in
                    let response = try await client.execute(
                        uri: "/v1/images/frontdoor-1763800000.jpg", method: .put,
                        headers: [.authorization: "Bearer \(device.token)"], body: ByteBuffer(bytes: photo))
                    #expect(response.status == .created)
                    for _ in 0..<12_000 where sink.received.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
                    // The dashboard's preview of the alert's image: a small JPEG of the same photo.
                    let alert = try #require(sink.received.first).alert.alertId
                    let preview = try await client.execute(
                        uri: "/v1/alerts/\(alert)/thumbnail.jpg", method: .get,
                        headers: [.authorization: "Bearer \(customer.token)"])
                    #expect(preview.status == .ok && preview.headers[.contentType] == "image/jpeg")
                    let header = try ImageDecoder.header(Data(buffer: preview.body))
                    #expect(header.format == .jpeg && header.width == 90 && header.height == 120)
                    // Nothing waits on a later try: no failed datum, no dead alert.
                    let metrics = try await client.execute(
                        uri: "/metrics", method: .get, headers: [.authorization: "Bearer \(operatorToken.token)"])
                    let text = String(buffer: metrics.body)
                    #expect(text.contains("vigil_pipeline_failed_datums{pipeline=\"detect\"} 0\n"))
                    #expect(text.contains("vigil_alerts_dead 0\n"))
                    return response.json["commit"] as? String
                }
                pipelines.stopGracefully()
                notifier.stopGracefully()
                try await group.waitForAll()
                return upload
            }
            await transport.shutdown()
            return upload
        }

        // One alert, to acme's contact, about what the detector saw, verified by the sink's signature check.
        let received = try #require(sink.received.first)
        #expect(sink.received.count == 1 && sink.stats.badSignatures == 0)
        #expect(received.alert.customer.id == "acme" && received.alert.contact.name == "Ana Lee")
        #expect(received.alert.device == "frontdoor" && received.alert.time == 1_763_800_000)
        #expect(received.alert.labels.first?.label == "person")
        #expect(received.alert.labels.first.map { $0.confidence > 0.9 } == true)
        // The alert's threat leads back, through provenance, to the uploaded commit.
        let threat = try Address.parse(received.alert.threat)
        let threatRef = try #require(threat.ref)
        let threatCommit = try #require(try await store.commit(id: threatRef))
        let upstream = try await store.provenance(of: threatCommit.reference, transitive: true)
        let uploadCommit = try #require(upload)
        #expect(upstream.contains(CommitReference(repo: "images", commit: uploadCommit)))
        #expect(upstream.contains { $0.repo == "rules" })
    }
}
