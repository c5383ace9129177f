import Foundation

/// Tells a long-running service (the engine, the notifier) that another process may have changed the shared
/// state (a commit, a job, an alert), so it looks again at once instead of polling. What changed is not said:
/// the service re-reads what it cares about, so a missed or doubled wake-up costs a read, never correctness.
public protocol ChangeFeed: Sendable {
    /// Calls `onChange` after other processes' writes (coalesced: one call may stand for many writes), until
    /// the calling task is cancelled.
    func watch(_ onChange: @escaping @Sendable () -> Void) async
}

/// The embedded default's feed: inotify on the data folder, reporting writes to the named files (the SQLite
/// databases' write-ahead logs). No polling: an idle service sleeps in the kernel.
public struct FolderChangeFeed: ChangeFeed {
    public let folder: URL
    public let files: Set<String>

    public init(folder: URL, files: Set<String>) {
        self.folder = folder
        self.files = files
    }

    public func watch(_ onChange: @escaping @Sendable () -> Void) async {
        for await _ in DirectoryWatcher.changes(in: folder, names: files) { onChange() }
    }
}
