import Synchronization

/// The engines running in this process, so that a job held by an engine of this process that has stopped
/// (a test, a restarted service) is recognised as abandoned rather than alive.
final class EngineRegistry: Sendable {
    static let shared = EngineRegistry()
    private let running = Mutex<Set<String>>([])

    func add(_ holder: String) { _ = running.withLock { $0.insert(holder) } }
    func remove(_ holder: String) { _ = running.withLock { $0.remove(holder) } }
    func isRunning(_ holder: String) -> Bool { running.withLock { $0.contains(holder) } }
}
