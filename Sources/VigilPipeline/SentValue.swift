import Synchronization

/// A value a `@Sendable` closure hands back to the code that called it.
final class SentValue<Value: Sendable>: Sendable {
    private let stored = Mutex<Value?>(nil)

    func set(_ value: Value) { stored.withLock { $0 = value } }

    var value: Value? { stored.withLock { $0 } }
}
