import Synchronization

/// A bounded map for values that never change once made (commits by id, what a content hash names): two
/// generations approximate LRU without a list to keep in order. When the young generation is full it becomes the
/// old one (what was in the old one is dropped); a hit in the old generation moves back to the young one.
public final class GenerationalCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct Generations {
        var young: [Key: Value] = [:]
        /// The sum of `cost` over `young`.
        var youngCost = 0
        var old: [Key: Value] = [:]
    }

    private let generations = Mutex(Generations())
    /// What one generation may hold: entries, or the sum of their `cost` where one is given.
    public let capacity: Int
    private let cost: @Sendable (Value) -> Int

    /// `cost` weighs an entry (an estimate of its bytes, say) where entries differ too much in size for a count
    /// to bound the memory held; by default each counts 1.
    public init(capacity: Int, cost: @escaping @Sendable (Value) -> Int = { _ in 1 }) {
        self.capacity = max(1, capacity)
        self.cost = cost
    }

    public func value(for key: Key) -> Value? {
        generations.withLock { state in
            if let value = state.young[key] { return value }
            guard let value = state.old.removeValue(forKey: key) else { return nil }
            insert(value, for: key, into: &state)
            return value
        }
    }

    public func insert(_ value: Value, for key: Key) {
        generations.withLock { insert(value, for: key, into: &$0) }
    }

    /// Drops the entries `shouldDrop` picks (what a deleted repo held).
    public func removeAll(where shouldDrop: (Value) -> Bool) {
        generations.withLock { state in
            state.young = state.young.filter { !shouldDrop($0.value) }
            state.youngCost = state.young.values.reduce(0) { $0 + cost($1) }
            state.old = state.old.filter { !shouldDrop($0.value) }
        }
    }

    private func insert(_ value: Value, for key: Key, into state: inout Generations) {
        let weight = cost(value)
        if state.youngCost + weight > capacity, !state.young.isEmpty {
            state.old = state.young
            state.young = [:]
            state.youngCost = 0
        }
        if state.young.updateValue(value, forKey: key) == nil { state.youngCost += weight }
    }
}
