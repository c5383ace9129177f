import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Prometheus
import VigilAccess
import VigilAlerts
import VigilBackends
import VigilPipeline
import VigilServer
import VigilStages
import VigilStore

let quiet = Logger(label: "vigil-test") { _ in SwiftLogNoOpLogHandler() }

/// A server over in-memory parts with two customers (acme owns frontdoor, smiths owns garage), data for both
/// devices in the images, detect and threats repos, one alert each, and a token per role and tenant.
struct ServerFixture {
    let environment: ServerEnvironment
    let scratch: URL
    var tokens: [String: String] = [:]
    var alertIDs: [String: String] = [:]

    /// A tiny real JPEG (the first bytes are what the upload checks) and a PNG signature.
    static let jpeg =
        Data([0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, 0x4A, 0x46, 0x49, 0x46, 0, 1]) + Data(repeating: 7, count: 500)
    static let png = Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) + Data(repeating: 1, count: 100)

    static let rules = """
        customers:
          - id: acme
            name: Acme Storage Ltd
            contacts: [{name: Ana Lee, email: ana@acme.example}]
            devices: [frontdoor]
            dangerous: {person: 0.6}
          - id: smiths
            name: The Smiths
            contacts: [{name: Sam Smith, phone: "07700 900123"}]
            devices: [garage]
            dangerous: {person: 0.5}
        """

    init(maxImageBytes: Int = 1 << 20) async throws {
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-server-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let backends = try Backends.inMemory(home: scratch, logger: quiet)
        let store = backends.store
        var configuration = ServerConfiguration()
        configuration.maxImageBytes = maxImageBytes
        environment = ServerEnvironment(
            store: store, jobs: try backends.jobs(), alerts: try backends.alerts(), access: try backends.access(),
            metrics: PrometheusCollectorRegistry(), configuration: configuration, scratch: scratch, logger: quiet)
        for repo in ["images", "rules", "detect", "threats"] { try await store.createRepo(repo) }
        try await Self.commit(["/customers.yaml": Data(Self.rules.utf8)], to: "rules", in: store)
        var threats: [(ThreatRecord, String)] = []
        var files: [String: [String: Data]] = ["images": [:], "detect": [:], "threats": [:]]
        for (device, customer) in [("frontdoor", "acme"), ("garage", "smiths")] {
            let name = "\(device)-1763800000.jpg"
            files["images"]!["/\(name)"] = Self.jpeg
            files["detect"]!["/\(device)/\(name).json"] = Data("{\"device\": \"\(device)\"}".utf8)
            let record = try Self.threat(device: device, customer: customer)
            files["threats"]!["/\(device)/\(name).json"] = try record.encoded()
            threats.append((record, "threats@0000:/\(device)/\(name).json"))
        }
        for (repo, content) in files { try await Self.commit(content, to: repo, in: store) }
        for alert in try await environment.alerts.ingest(threats, repo: "threats", from: nil, to: "0000", now: Date()) {
            alertIDs[alert.customer] = alert.id
        }
        let access = environment.access
        let now = Date()
        tokens["admin"] = try await access.createToken(name: "root", role: .admin, at: now).token
        tokens["operator"] = try await access.createToken(name: "ops", role: .operator, at: now).token
        tokens["acme"] = try await access.createToken(name: "acme", role: .customer, customer: "acme", at: now).token
        tokens["smiths"] = try await access.createToken(
            name: "smiths", role: .customer, customer: "smiths", at: now
        ).token
        tokens["frontdoor"] = try await access.createToken(
            name: "frontdoor", role: .device, device: "frontdoor", at: now
        ).token
        tokens["garage"] = try await access.createToken(name: "garage", role: .device, device: "garage", at: now).token
        let revoked = try await access.createToken(name: "old", role: .admin, at: now)
        try await access.revoke(revoked.info.id, at: now)
        tokens["revoked"] = revoked.token
        tokens["forged"] = "vgl_" + revoked.info.id + "_" + String(repeating: "0", count: 64)
        tokens["garbage"] = "not-a-token"
    }

    func remove() {
        try? FileManager.default.removeItem(at: scratch)
    }

    /// Runs `body` against the router in-process, or (`.live`) against a server on a loopback port, where
    /// requests come from a real address.
    func test<T: Sendable>(
        _ setup: TestingSetup = .router, _ body: @Sendable (any TestClientProtocol) async throws -> T
    ) async throws -> T {
        let app = Application(router: VigilAPI.router(environment), logger: quiet)
        return try await app.test(setup, body)
    }

    /// The headers of a request made with the named token (none for "none").
    func headers(_ who: String) -> HTTPFields {
        guard let token = tokens[who] else { return [:] }
        return [.authorization: "Bearer \(token)"]
    }

    static func commit(_ files: [String: Data], to repo: String, in store: VersionedStore) async throws {
        let writer = try await store.openCommit(repo: repo)
        for (path, data) in files.sorted(by: { $0.key < $1.key }) { try await writer.put(path, data: data) }
        try await writer.finish()
    }

    static func threat(device: String, customer: String) throws -> ThreatRecord {
        let name = "\(device)-1763800000.jpg"
        let json = """
            {"customer": "\(customer)", "customerName": "\(customer)", "device": "\(device)", "time": 1763800000,
             "isoTime": "2025-11-22T08:26:40Z", "localTime": "2025-11-22T08:26:40Z",
             "labels": [{"label": "person", "confidence": 0.9, "count": 1, "minConfidence": 0.5}],
             "image": {"name": "\(name)", "width": 640, "height": 480, "bytes": 512, "sha256": "\(String(repeating: "ab", count: 32))",
                       "address": "validate@00:/valid/\(name)"},
             "imagePath": "/\(device)/\(name)", "detection": "detect@00:/\(device)/\(name).json",
             "rules": {"commit": "r", "tree": "t"}, "model": {"name": "yolov4-tiny", "sha256": "m", "labels": 80},
             "contacts": [{"name": "Someone", "email": "someone@example.com"}], "acknowledgeWithin": 600}
            """
        return try JSONDecoder().decode(ThreatRecord.self, from: Data(json.utf8))
    }
}

extension TestResponse {
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(buffer: body)) as? [String: Any]) ?? [:]
    }

    var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
}
