import Foundation

/// Whether a process can do its work now: its metadata store (SQLite or PostgreSQL) and its blob store (a folder
/// or S3) each answer a real read within a deadline. What a readiness probe asks (`GET /readyz`); a process that
/// is not ready is left out of a load balancer until its dependencies are back, not restarted.
public struct Readiness: Sendable, Codable, Equatable {
    public struct Check: Sendable, Codable, Equatable {
        /// `metadata` or `blobs`.
        public var name: String
        public var ok: Bool
        public var milliseconds: Double
        /// What went wrong, when not ok.
        public var error: String?
    }

    public var ready: Bool { checks.allSatisfy(\.ok) }
    public var checks: [Check]

    /// A repo that is never made: looking it up is a read of the metadata store that finds nothing.
    static let probeRepo = "vigil-readiness-probe"

    /// Checks both stores at once, each within `timeout`.
    public static func check(_ store: VersionedStore, timeout: Duration = .seconds(2)) async -> Readiness {
        async let metadata = measure("metadata", timeout: timeout) {
            _ = try await store.metadata.repo(named: probeRepo)
        }
        async let blobs = measure("blobs", timeout: timeout) {
            _ = try await store.blobs.contains(BlobHash(of: Data()))
        }
        return Readiness(checks: await [metadata, blobs])
    }

    private static func measure(
        _ name: String, timeout: Duration, _ read: @escaping @Sendable () async throws -> Void
    ) async -> Check {
        let clock = ContinuousClock()
        let start = clock.now
        let outcome: String? = await withTaskGroup(of: String?.self) { group in
            group.addTask {
                do {
                    try await read()
                    return nil
                } catch let error as VigilError {
                    return error.description
                } catch {
                    return "\(error)"
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return Task.isCancelled ? nil : "no answer within \(timeout)"
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        let elapsed = clock.now - start
        let milliseconds = elapsed.inSeconds * 1000
        return Check(name: name, ok: outcome == nil, milliseconds: (milliseconds * 10).rounded() / 10, error: outcome)
    }
}
