import Foundation
import Hummingbird
import Logging
import Synchronization
import VigilAlertSink
import VigilAlerts
import VigilStages
import VigilStore

let testSecret = "vigil-test-secret-0123456789abcdef"
let quiet = Logger(label: "vigil-test") { _ in SwiftLogNoOpLogHandler() }

/// A store over in-memory parts.
func makeStore() throws -> VersionedStore {
    VersionedStore(blobs: InMemoryBlobStore(), metadata: try SQLiteMetadataStore(), logger: quiet)
}

/// A threat record as the threats stage writes it, for `device` at `time`, with `contacts` told in order.
func threatRecord(
    device: String = "frontdoor", time: Int64 = 1_763_800_000, customer: String = "acme",
    contacts: [String] = ["Ana Lee", "Bo Chen"], acknowledgeWithin: Double = 600, imageSHA: String? = nil
) throws -> ThreatRecord {
    let name = "\(device)-\(time).jpg"
    let sha = imageSHA ?? BlobHash(of: Data(name.utf8)).hex
    let json: [String: Any] = [
        "customer": customer, "customerName": "Acme Storage Ltd", "device": device, "time": time,
        "isoTime": Date(timeIntervalSince1970: TimeInterval(time)).formatted(.iso8601),
        "localTime": Date(timeIntervalSince1970: TimeInterval(time)).formatted(.iso8601),
        "labels": [["label": "person", "confidence": 0.92, "count": 2, "minConfidence": 0.6]],
        "image": [
            "name": name, "width": 640, "height": 480, "bytes": name.utf8.count, "sha256": sha,
            "address": "validate@0123:/valid/\(name)",
        ],
        "imagePath": "/\(device)/\(name)", "detection": "detect@0123:/\(device)/\(name).json",
        "rules": ["commit": "feed", "tree": "beef"], "model": ["name": "yolov4-tiny", "sha256": "ab", "labels": 80],
        "contacts": contacts.map { ["name": $0, "email": "\($0.split(separator: " ")[0].lowercased())@acme.example"] },
        "acknowledgeWithin": acknowledgeWithin,
    ]
    return try JSONDecoder().decode(ThreatRecord.self, from: try JSONSerialization.data(withJSONObject: json))
}

/// Commits threat records (and their images' bytes, named as the records say) to the `threats` repo.
@discardableResult
func commitThreats(
    _ records: [ThreatRecord], to store: VersionedStore, repo: String = "threats"
) async throws
    -> CommitInfo
{
    if (try? await store.repo(repo)) == nil { try await store.createRepo(repo) }
    let writer = try await store.openCommit(repo: repo)
    for record in records {
        try await writer.put(record.imagePath, data: Data(record.image.name.utf8))
        try await writer.put(record.imagePath + ".json", data: try record.encoded())
    }
    return try await writer.finish()
}

/// Runs `body` with a real alert sink listening on 127.0.0.1 (a free port), stopped afterwards.
func withSink<T: Sendable>(
    behaviour: AlertSink.Behaviour = .init(), journal: URL? = nil,
    _ body: @Sendable (AlertSink, URL) async throws -> T
) async throws -> T {
    let sink = try AlertSink(signature: try AlertSignature(secret: testSecret), journal: journal, behaviour: behaviour)
    return try await sink.whileRunning(logger: quiet) { url in try await body(sink, url) }
}

/// An HTTP transport to the sink at `url`, signed with the test secret.
func transport(_ url: URL, timeout: Double = 10) throws -> HTTPAlertTransport {
    try HTTPAlertTransport(url: url, signature: try AlertSignature(secret: testSecret), timeout: timeout)
}

/// Retries fast, so failure tests take milliseconds per retry.
func fastConfiguration(horizon: Double = RetryPolicy.defaultHorizon) -> NotifierConfiguration {
    var configuration = NotifierConfiguration()
    configuration.retry = RetryPolicy(horizon: horizon, baseDelay: 0.01, maxDelay: 0.05)
    configuration.breakerThreshold = 3
    configuration.breakerCoolDown = 0.05
    return configuration
}

/// Waits (up to 20 s) until `condition` holds; returns whether it did.
func eventually(_ condition: () async throws -> Bool) async rethrows -> Bool {
    for _ in 0..<2000 {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return try await condition()
}

/// A clock the test moves by hand: `sleep(until:)` returns when `advance` passes the deadline.
final class ManualClock: AlertClock {
    private struct Sleeper {
        let deadline: Date
        let continuation: CheckedContinuation<Void, any Error>
    }

    private let state: Mutex<(now: Date, sleepers: [UUID: Sleeper])>

    init(now: Date = Date(timeIntervalSince1970: 1_763_800_000)) {
        state = Mutex((now, [:]))
    }

    func now() -> Date { state.withLock { $0.now } }

    func advance(by seconds: Double) {
        let due = state.withLock { state -> [Sleeper] in
            state.now = state.now.addingTimeInterval(seconds)
            let now = state.now
            let due = state.sleepers.filter { $0.value.deadline <= now }
            for key in due.keys { state.sleepers[key] = nil }
            return Array(due.values)
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    func sleep(until deadline: Date) async throws {
        let id = UUID()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeNow = state.withLock { state -> Bool in
                    if deadline <= state.now || Task.isCancelled { return true }
                    state.sleepers[id] = Sleeper(deadline: deadline, continuation: continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let sleeper = state.withLock { $0.sleepers.removeValue(forKey: id) }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
        try Task.checkCancellation()
    }
}
