import Synchronization

/// A bounded map for values that never change once made (commits by id, what a content hash names): two
/// generations approximate LRU without a list to keep in order. When the young generation is full it becomes the
/// old one (what was in the old one is dropped); a hit in the old generation moves back to the young one.
public final class GenerationalCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct Generations {
        var young: [Key: Value] = [:]
        var old: [Key: Value] = [:]
    }

    private let generations = Mutex(Generations())
    /// Entries per generation.
    public let capacity: Int

    public init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    public func value(for key: Key) -> Value? {
        generations.withLock { state in
            if let value = state.young[key] { return value }
            guard let value = state.old.removeValue(forKey: key) else { return nil }
            Self.insert(value, for: key, into: &state, capacity: capacity)
            return value
        }
    }

    public func insert(_ value: Value, for key: Key) {
        generations.withLock { Self.insert(value, for: key, into: &$0, capacity: capacity) }
    }

    /// Drops the entries `shouldDrop` picks (what a deleted repo held).
    public func removeAll(where shouldDrop: (Value) -> Bool) {
        generations.withLock { state in
            state.young = state.young.filter { !shouldDrop($0.value) }
            state.old = state.old.filter { !shouldDrop($0.value) }
        }
    }

    private static func insert(_ value: Value, for key: Key, into state: inout Generations, capacity: Int) {
        if state.young.count >= capacity {
            state.old = state.young
            state.young = [:]
        }
        state.young[key] = value
    }
}
