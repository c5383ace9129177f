import Foundation
import Logging
import PostgresNIO

/// The feed on a shared PostgreSQL database: LISTEN on one dedicated connection (outside the pool), to which
/// every writer's transaction sends `NOTIFY` (see `notify`), delivered when it commits.
///
/// Notifications sent while the connection is down are lost, so every (re)connect wakes the service once to
/// catch up, and a slow poll (`pollInterval`) covers a connection that died without saying so.
public struct PostgresChangeFeed: ChangeFeed {
    /// The channel every Vigil writer notifies and every Vigil service listens on.
    public static let channel = "vigil_changes"

    public let database: PostgresDatabase
    public var pollInterval: Duration = .seconds(30)
    public var reconnect = Backoff(base: 0.5, maximum: 10)

    public init(database: PostgresDatabase) {
        self.database = database
    }

    /// A `RETURNING` clause that sends `NOTIFY` for the change each written row names: `prefix` is
    /// `Change.repoPrefix` or `Change.pipelinePrefix`, `column` the row's name column.
    public static func notifying(_ prefix: String, column: String) -> String {
        "RETURNING pg_notify('\(channel)', '\(prefix)' || \(column))"
    }

    public func watch(_ onChange: @escaping @Sendable (Change) -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await listen(onChange) }
            group.addTask {
                while (try? await Task.sleep(for: pollInterval)) != nil { onChange(.unknown) }
            }
            await group.next()
            group.cancelAll()
        }
    }

    private func listen(_ onChange: @escaping @Sendable (Change) -> Void) async {
        var failures = 0
        while !Task.isCancelled {
            do {
                try await database.withDedicatedConnection("listening for changes", timeout: .seconds(315_360_000)) {
                    connection in
                    try await connection.listen(on: Self.channel) { notifications in
                        // Listening now: catch up on whatever happened while there was no connection.
                        onChange(.unknown)
                        for try await notification in notifications {
                            onChange(Change(payload: notification.payload))
                        }
                    }
                }
                failures = 0
            } catch {
                if Task.isCancelled { return }
                failures += 1
                database.logger.warning(
                    "change feed lost its connection; reconnecting",
                    metadata: ["error": "\(error)", "attempt": "\(failures)"])
                try? await Task.sleep(for: .seconds(reconnect.delay(after: failures)))
            }
        }
    }
}
