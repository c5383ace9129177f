import Foundation
import Synchronization

/// Writer leases shared by the commits a long-running process opens close together. Every commit's writer
/// needs a lease from before its first blob until its commit is published (gc's cut-off sits below the oldest
/// live lease), and taking one is a write to the metadata store, queued behind other commits' heads. A lease
/// taken less than `reuseWindow` ago started before anything a new writer will write, so it protects that
/// writer as well as its own: the new writer joins it instead of writing one. A lease takes no new writers
/// once older than the window, so no lease holds gc back for long; it is released when its last writer is
/// done (the current one after `idleKeep` without writers, by `WriterLeaseKeeper`).
///
/// Off unless a `WriterLeaseKeeper` runs (a service: `vigil serve`, `engine`, `worker`): a short-lived command
/// has nobody to release an idle lease, and takes one per commit as before.
public final class SharedWriterLeases: Sendable {
    /// How long after it was taken a lease still takes new writers.
    public let reuseWindow: TimeInterval
    /// How long the newest lease is kept without writers, for the next commit to join.
    public let idleKeep: TimeInterval

    private struct Shared {
        var lease: WriterLease
        var writers: Int
        var idleSince: Date?
    }

    private struct State {
        var enabled = false
        /// The lease new writers join while it is young enough.
        var current: Shared?
        /// Leases that take no new writers, by id: how many writers still hold each.
        var retired: [String: Int] = [:]
        /// Leases nobody holds whose release failed (a passing outage): the keeper tries again.
        var unreleased: Set<String> = []
        var joins = 0

        /// The leases whose release failed, handed out once.
        mutating func takeUnreleased() -> [String] {
            defer { unreleased.removeAll() }
            return Array(unreleased)
        }
    }

    private let state = Mutex(State())

    public init(reuseWindow: TimeInterval = 10, idleKeep: TimeInterval = 1) {
        self.reuseWindow = reuseWindow
        self.idleKeep = idleKeep
    }

    /// Whether new writers may share leases (a keeper is running).
    public var isEnabled: Bool { state.withLock { $0.enabled } }

    /// How many writers joined a lease taken by another, so far.
    public var joins: Int { state.withLock { $0.joins } }

    /// A lease a new writer may hold from `now` on, with the writer counted in; nil when it must take its own.
    func join(now: Date) -> WriterLease? {
        state.withLock { state in
            guard state.enabled, var current = state.current, now.timeIntervalSince(current.lease.started) >= 0,
                now.timeIntervalSince(current.lease.started) < reuseWindow
            else { return nil }
            current.writers += 1
            current.idleSince = nil
            state.current = current
            state.joins += 1
            return current.lease
        }
    }

    /// Makes `lease`, just taken by a writer (counted in), the one later writers join. Returns the id of the
    /// lease it replaces when nobody holds that one any more: the caller releases it.
    func adopt(_ lease: WriterLease) -> String? {
        state.withLock { state in
            guard state.enabled else { return nil }
            let replaced = state.current
            state.current = Shared(lease: lease, writers: 1)
            guard let replaced else { return nil }
            if replaced.writers == 0 { return replaced.lease.id }
            state.retired[replaced.lease.id] = replaced.writers
            return nil
        }
    }

    /// Whether `id` is a lease shared here (its writers release it through `leave`, not with their commit).
    func isShared(_ id: String) -> Bool {
        state.withLock { $0.current?.lease.id == id || $0.retired[id] != nil }
    }

    /// A writer of shared lease `id` is done. True when the lease is to be released now: it takes no new
    /// writers and this was its last.
    func leave(_ id: String, now: Date) -> Bool {
        state.withLock { state in
            if var current = state.current, current.lease.id == id {
                current.writers -= 1
                if current.writers == 0 { current.idleSince = now }
                state.current = current
                return false
            }
            guard let writers = state.retired[id] else { return false }
            if writers > 1 {
                state.retired[id] = writers - 1
                return false
            }
            state.retired[id] = nil
            return true
        }
    }

    /// A lease nobody holds any more could not be released: tried again by the keeper's next sweep, while one
    /// runs (otherwise it expires like a killed process's).
    func releaseFailed(_ id: String) {
        state.withLock { state in
            if state.enabled { state.unreleased.insert(id) }
        }
    }

    /// The leases to release at `now`: those whose release failed before, and the current one when it has had
    /// no writer for `idleKeep`, or has none and is too old to take more.
    func sweep(now: Date) -> [String] {
        state.withLock { state in
            var due = state.takeUnreleased()
            guard let current = state.current, current.writers == 0, let idle = current.idleSince else { return due }
            guard
                now.timeIntervalSince(idle) >= idleKeep
                    || now.timeIntervalSince(current.lease.started) >= reuseWindow
            else { return due }
            state.current = nil
            due.append(current.lease.id)
            return due
        }
    }

    /// The leases it tracks and their writers, for a failed test's message.
    var summary: String {
        state.withLock { state in
            let current = state.current.map { "\($0.lease.id) (\($0.writers) writers)" } ?? "none"
            return
                "enabled \(state.enabled), current \(current), retired \(state.retired), unreleased \(state.unreleased)"
        }
    }

    /// Turns sharing on (a keeper started).
    func enable() {
        state.withLock { $0.enabled = true }
    }

    /// Turns sharing off (the keeper stopping): returns the leases nobody holds, to release now; those still
    /// held are released by their last writer.
    func disable() -> [String] {
        state.withLock { state in
            state.enabled = false
            let due = state.takeUnreleased()
            guard let current = state.current else { return due }
            state.current = nil
            if current.writers == 0 { return due + [current.lease.id] }
            state.retired[current.lease.id] = current.writers
            return due
        }
    }
}
