import Synchronization
import VigilStore

/// Output commits' datum-index states (`DatumIndex.State`), by the hash of the commit's meta tree. Every step of
/// a pipeline reads its output head's state (a blob read and a JSON decode), and between two jobs it is the same
/// one, which the job that made the commit already had in hand. Content-addressed: what a hash names never
/// changes, so an entry is never stale, whichever store or process made it. Two generations approximate LRU,
/// as in `CommitCache`.
final class DatumStateCache: Sendable {
    static let shared = DatumStateCache(capacity: 256)

    private struct Generations {
        var young: [BlobHash: DatumIndex.State] = [:]
        var old: [BlobHash: DatumIndex.State] = [:]
    }

    private let generations = Mutex(Generations())
    private let capacity: Int

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    func state(meta: BlobHash) -> DatumIndex.State? {
        generations.withLock { state in
            if let found = state.young[meta] { return found }
            guard let found = state.old.removeValue(forKey: meta) else { return nil }
            Self.insert(found, for: meta, into: &state, capacity: capacity)
            return found
        }
    }

    func insert(_ value: DatumIndex.State, meta: BlobHash) {
        generations.withLock { Self.insert(value, for: meta, into: &$0, capacity: capacity) }
    }

    private static func insert(
        _ value: DatumIndex.State, for meta: BlobHash, into state: inout Generations, capacity: Int
    ) {
        if state.young.count >= capacity {
            state.old = state.young
            state.young = [:]
        }
        state.young[meta] = value
    }
}
