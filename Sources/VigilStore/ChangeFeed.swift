import Foundation

/// Tells a long-running service (the engine, the notifier) that another process may have changed the shared
/// state (a commit, a pipeline, an alert), so it looks again at once instead of polling. A change says what it
/// was about where the feed knows (`Change`), so a service looks only where it must; the service re-reads
/// what it cares about, so a missed or doubled wake-up costs a read, never correctness.
public protocol ChangeFeed: Sendable {
    /// Calls `onChange` after other processes' writes (coalesced: one call may stand for many writes), until
    /// the calling task is cancelled.
    func watch(_ onChange: @escaping @Sendable (Change) -> Void) async
}

/// What a change was about.
public enum Change: Sendable, Hashable {
    /// A repo's branches moved (a commit), or the repo was made or deleted.
    case repo(String)
    /// A pipeline was created, changed, deleted or asked to run.
    case pipeline(String)
    /// A person changed an alert (`ack`, `retry`).
    case alerts
    /// A pipeline has datums waiting to be claimed (a job started, leases expired): its workers look.
    case datums(String)
    /// Every datum of a job is done: its coordinator assembles the output commit.
    case jobWorkDone(String)
    /// An erasure was recorded: what a process holds of frames in memory goes.
    case erasures
    /// Anything may have changed: a catch-up after a reconnect, a poll, a database file written.
    case unknown

    /// The change as a `NOTIFY` payload (`repo:images`, `pipeline:detect`, `alerts`).
    public var payload: String {
        switch self {
        case .repo(let name): Self.repoPrefix + name
        case .pipeline(let name): Self.pipelinePrefix + name
        case .alerts: Self.alertsPayload
        case .erasures: Self.erasuresPayload
        case .datums(let pipeline): Self.datumsPrefix + pipeline
        case .jobWorkDone(let job): Self.jobWorkDonePrefix + job
        case .unknown: ""
        }
    }

    /// The change a `NOTIFY` payload names; one this Vigil does not know is `unknown`.
    public init(payload: String) {
        if payload.hasPrefix(Self.repoPrefix) {
            self = .repo(String(payload.dropFirst(Self.repoPrefix.count)))
        } else if payload.hasPrefix(Self.pipelinePrefix) {
            self = .pipeline(String(payload.dropFirst(Self.pipelinePrefix.count)))
        } else if payload == Self.alertsPayload {
            self = .alerts
        } else if payload == Self.erasuresPayload {
            self = .erasures
        } else if payload.hasPrefix(Self.datumsPrefix) {
            self = .datums(String(payload.dropFirst(Self.datumsPrefix.count)))
        } else if payload.hasPrefix(Self.jobWorkDonePrefix) {
            self = .jobWorkDone(String(payload.dropFirst(Self.jobWorkDonePrefix.count)))
        } else {
            self = .unknown
        }
    }

    /// What the payloads of a repo's and a pipeline's changes start with, before the name.
    public static let repoPrefix = "repo:"
    public static let pipelinePrefix = "pipeline:"
    public static let datumsPrefix = "datums:"
    public static let jobWorkDonePrefix = "job-done:"
    static let alertsPayload = "alerts"
    static let erasuresPayload = "erasures"
}

/// The embedded default's feed: inotify on the data folder, reporting writes to the named files (the databases'
/// write-ahead logs). No polling: an idle service sleeps in the kernel.
public struct FolderChangeFeed: ChangeFeed {
    public let folder: URL
    public let files: Set<String>
    /// What other processes have committed to the watched databases (one count each), or nil when a count
    /// cannot be read (then the write is reported). With it, a write that was this process's own is not
    /// reported; without it, every write is.
    public let commitsByOthers: (@Sendable () async -> [Int]?)?

    public init(folder: URL, files: Set<String>, commitsByOthers: (@Sendable () async -> [Int]?)? = nil) {
        self.folder = folder
        self.files = files
        self.commitsByOthers = commitsByOthers
    }

    /// At most one change every `interval` seconds: what the feed reports, "something changed", sends the
    /// engine to look at every pipeline and the notifier at every alert. This process's own commits reach it at
    /// once by the commit feed; other processes' within the interval.
    public var interval: Duration = .milliseconds(500)

    /// After a write that looked like this process's own, when to look at the counts again. The kernel reports
    /// another process's write as its pages reach the log, and the count moves only once its commit is
    /// complete: after the disk has the log (a commit that waits for it), which takes milliseconds, or on a
    /// slow disk much longer.
    public var followUps: [Duration] = [.milliseconds(50), .milliseconds(500), .seconds(2), .seconds(8)]

    public func watch(_ onChange: @escaping @Sendable (Change) -> Void) async {
        let changes = DirectoryWatcher.changes(in: folder, names: files, interval: interval)
        guard let commitsByOthers else {
            // The watcher's thread rests for the interval after each report (it is not woken by every write),
            // and so does this task: writes meanwhile are coalesced into one change, reported when the interval
            // is over.
            for await _ in changes {
                onChange(.unknown)
                try? await Task.sleep(for: interval)
            }
            return
        }
        let (checks, check) = AsyncStream.makeStream(of: Check.self)
        let (lateLooks, lookLater) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in changes { check.yield(.written) }
            }
            group.addTask {
                for await _ in lateLooks {
                    for delay in followUps {
                        try? await Task.sleep(for: delay)
                        check.yield(.followUp)
                    }
                }
            }
            // Nothing seen yet: the first write is reported whoever made it.
            var seen: [Int]?
            for await reason in checks {
                let now = await commitsByOthers()
                if now == nil || now != seen {
                    seen = now
                    onChange(.unknown)
                    try? await Task.sleep(for: interval)
                } else if reason == .written {
                    lookLater.yield()
                }
            }
            group.cancelAll()
        }
    }

    /// Why the feed looks at the counts.
    private enum Check {
        /// A watched file was written.
        case written
        /// A while after a write that looked like this process's own.
        case followUp
    }
}
