import Foundation
import Tracing

/// An open commit: stage puts, deletes and copies, then `finish()` publishes them as one commit, atomically,
/// or `abandon()` drops them. Nothing is visible to readers before `finish()`.
///
/// Blob writes run outside the actor, so many `put`s can proceed in parallel; only staging is serialised.
/// `finish()` applies the staged changes to the head the commit was opened on and moves the head by
/// compare-and-swap; if another writer got there first, it replays the changes onto the head the failed swap
/// reported, so no commit is ever lost.
///
/// A commit of any size keeps memory bounded: past `compactionThreshold` staged paths, the staged changes are
/// applied to a working tree (its nodes go to the blob store) and forgotten. If the head has moved by the time
/// such a commit finishes, what was compacted is replayed onto the new head as the diff it made.
public actor CommitWriter {
    public nonisolated let repo: String
    public nonisolated let branch: String
    private let store: VersionedStore
    private var author: String
    private let started: Date
    private let lease: WriterLease
    /// The head when the commit was opened (the parent of a commit `prepare` builds), and its trees.
    public nonisolated let baseHead: String?
    private let baseRoot: TreeRoot
    private let baseMeta: TreeRoot?
    /// The base with every compacted change applied (the base itself until the first compaction).
    private var working: TreeRoot
    private var workingMeta: TreeRoot?
    private var compacted = false
    /// How many times staged changes were applied early (tests check large commits do compact).
    private(set) var compactions = 0
    /// Changes being applied by a compaction in progress (still "staged" for `delete`'s existence check).
    private var compacting: ChangeSet?
    private var stagedSinceCompaction = 0
    private var lastHeartbeat: Date
    private var changes = ChangeSet()
    private var metaChanges = ChangeSet()
    /// The trace each traced file belongs to (`CommitInfo.traces`).
    private var traces: [String: TraceHeaders] = [:]
    private var closed = false

    /// How often a long-running writer tells gc it is still alive.
    static let heartbeatInterval: TimeInterval = 30
    /// Staged paths (data and meta) past which they are applied to the working tree and dropped from memory.
    static let compactionThreshold = 16_384

    /// `started` is when the commit was opened: the lease's start, unless it joined a lease taken before
    /// (`SharedWriterLeases`).
    init(
        store: VersionedStore, repo: String, branch: String, author: String, base: CommitInfo?, lease: WriterLease,
        started: Date
    ) {
        self.store = store
        self.repo = repo
        self.branch = branch
        self.author = author
        baseHead = base?.id
        baseRoot = base?.tree ?? TreeStore.emptyRoot
        baseMeta = base?.meta
        working = baseRoot
        workingMeta = baseMeta
        self.lease = lease
        self.started = started
        // A joined lease's heartbeat may be older than this commit: renewals count from it.
        lastHeartbeat = lease.heartbeat
    }

    /// Stores `data` and stages it at `path`.
    @discardableResult
    public nonisolated func put(_ path: String, data: Data) async throws -> BlobWrite {
        try await putBlob(path, data: data, meta: false)
    }

    /// Stores a local file's bytes (streamed) and stages them at `path`.
    @discardableResult
    public nonisolated func put(_ path: String, contentsOf file: URL) async throws -> BlobWrite {
        let components = try Self.fileComponents(path)
        let written = try await store.blobs.put(contentsOf: file)
        try await stage(.set(.file(written.hash, size: written.size)), at: components, path: path)
        return written
    }

    /// Takes a spooled local file (hashed as it was written) as the blob at `path` (`BlobStore.put(movingFile:)`).
    @discardableResult
    public nonisolated func put(
        _ path: String, movingFile file: URL, hash: BlobHash, size: Int64
    ) async throws
        -> BlobWrite
    {
        let components = try Self.fileComponents(path)
        let written = try await store.blobs.put(movingFile: file, hash: hash, size: size)
        try await stage(.set(.file(written.hash, size: written.size)), at: components, path: path)
        return written
    }

    /// Stages an existing file or directory (from any commit of any repo) at `path`: a copy that stores no
    /// bytes. At `/`, a directory replaces the whole tree.
    public func set(_ path: String, to value: TreeValue) async throws {
        let components = try StorePath.components(path)
        if components.isEmpty {
            guard value.kind == .directory else {
                throw VigilError(.pathConflict, "cannot put a file at '/'; give it a name", value: path)
            }
            try checkOpen()
            changes.replaceRoot(with: TreeRoot(hash: value.hash, size: value.size, files: value.files))
            return
        }
        try await stage(.set(value), at: components, path: path)
    }

    /// Stores `data` at `path` of the commit's hidden meta tree (see `CommitInfo.meta`).
    @discardableResult
    public nonisolated func putMeta(_ path: String, data: Data) async throws -> BlobWrite {
        try await putBlob(path, data: data, meta: true)
    }

    /// Stores `data`, then stages it in the data tree or the meta tree.
    private nonisolated func putBlob(_ path: String, data: Data, meta: Bool) async throws -> BlobWrite {
        let components = try Self.fileComponents(path)
        let written = try await store.blobs.put(data)
        let change = TreeChange.set(.file(written.hash, size: written.size))
        if meta {
            try await stageMeta(change, at: components, path: path)
        } else {
            try await stage(change, at: components, path: path)
        }
        return written
    }

    /// Puts an existing blob (or tree) at `path` of the meta tree, storing no bytes: what another process
    /// already stored by its content (a queued datum's index entry, written by the worker that ran it).
    public func setMeta(_ path: String, to value: TreeValue) async throws {
        try await stageMeta(.set(value), at: try Self.fileComponents(path), path: path)
    }

    /// Tells gc this writer is still alive, when it has not said so for a while: for a writer that waits long
    /// between its changes (a job whose datums run elsewhere), whose staging would otherwise say it.
    public func keepAlive() async throws {
        try checkOpen()
        try await renewLeaseIfDue()
    }

    /// Removes `path` (a file or folder; `/`: everything) from the meta tree. Removing what is absent is a no-op:
    /// the caller's bookkeeping, not a user's path.
    public func deleteMeta(_ path: String) async throws {
        try checkOpen()
        let components = try StorePath.components(path)
        if components.isEmpty {
            metaChanges.replaceRoot(with: TreeStore.emptyRoot)
        } else {
            try metaChanges.stage(.remove, at: components[...], fullPath: path)
            try await compactIfLarge()
        }
    }

    private func stageMeta(_ change: TreeChange, at components: [String], path: String) async throws {
        try checkOpen()
        try metaChanges.stage(change, at: components[...], fullPath: path)
        try await compactIfLarge()
    }

    /// Says which trace the file at `path` belongs to: published with the commit (`CommitInfo.traces`), so that
    /// whoever reads the file next continues its trace. Past `maxTraces` files a commit carries no more: a
    /// trace is a sample, never worth the memory of a million-file commit.
    public func trace(_ path: String, _ headers: TraceHeaders?) {
        guard let headers, !closed, traces.count < Self.maxTraces || traces[path] != nil else { return }
        traces[path] = headers
    }

    /// The most traced files one commit names.
    public static let maxTraces = 4_096

    /// Stages the removal of the file or directory at `path` (`/`: everything).
    public func delete(_ path: String) async throws {
        try checkOpen()
        let components = try StorePath.components(path)
        let staged =
            changes.putsSomething(under: components[...]) || compacting?.putsSomething(under: components[...]) == true
        let existing = try await store.trees.lookup(path, in: changes.root ?? working)
        guard staged || existing != nil || components.isEmpty else {
            throw VigilError.pathNotFound(path, in: "\(repo)@\(branch)")
        }
        if components.isEmpty {
            changes.replaceRoot(with: TreeStore.emptyRoot)
        } else {
            try changes.stage(.remove, at: components[...], fullPath: path)
            try await compactIfLarge()
        }
    }

    /// How many paths are staged.
    public var stagedCount: Int { changes.count }

    /// Publishes the staged changes as one commit on the branch and returns it.
    /// `author`, when given, replaces the one the commit was opened with: a commit that gathered several
    /// senders' files names them all (`GroupCommit`). `whenDurable` is called with the commit as soon as its
    /// head is durable, before anything else is done with it (the commit feed is told after), for work that
    /// waits for exactly that.
    @discardableResult
    public func finish(
        message: String = "", author: String? = nil, provenance: Provenance = Provenance(),
        whenDurable: (@Sendable (CommitInfo) -> Void)? = nil
    ) async throws -> CommitInfo {
        if let author { self.author = author }
        // Without a check, every moved head is rebased onto: the commit is always made.
        return try await finish(
            message: message, provenance: provenance, rebasingOnto: nil, whenDurable: whenDurable)!
    }

    /// Publishes the staged changes like `finish`, except that when another writer moved the head first,
    /// `rebase` is shown that head and decides: true replays the changes onto it, false drops the commit and
    /// returns nil. How a job's output is made exactly once: a head that already holds the job's output is
    /// not built on again.
    public func finish(
        message: String = "", provenance: Provenance = Provenance(),
        rebasingOnto rebase: (@Sendable (CommitInfo) async throws -> Bool)?,
        whenDurable: (@Sendable (CommitInfo) -> Void)? = nil
    ) async throws -> CommitInfo? {
        try checkOpen()
        // A compaction started by a put still in flight holds changes outside `changes` until it is done.
        while compacting != nil { try await Task.sleep(for: .milliseconds(1)) }
        closed = true
        do {
            // The lease is released with the commit, in its transaction.
            let commit = try await publish(
                message: message, provenance: provenance, rebase: rebase, whenDurable: whenDurable)
            if commit == nil { await releaseLease() }
            return commit
        } catch {
            await releaseLease()
            throw error
        }
    }

    private func publish(
        message: String, provenance: Provenance, rebase: (@Sendable (CommitInfo) async throws -> Bool)?,
        whenDurable: (@Sendable (CommitInfo) -> Void)?
    ) async throws -> CommitInfo? {
        // First try on the head the commit was opened on; a compare-and-swap that fails says where it is now.
        var head = baseHead
        // A writer opened while another commit was being made (a group commit's next one) would build its trees
        // on the old head, fail the swap and build them again: it starts from the head as it is now, unless the
        // caller decides about moved heads itself.
        if rebase == nil, let current = try await store.metadata.branch(branch, in: repo) { head = current.head }
        for _ in 0..<1000 {
            var headRoot = TreeStore.emptyRoot
            var headMeta: TreeRoot?
            if let head {
                let headCommit = try await store.requireCommit(head, in: repo)
                headRoot = headCommit.tree
                headMeta = headCommit.meta
            }
            var root = headRoot
            var meta = headMeta
            if compacted {
                if head == baseHead {
                    (root, meta) = (working, workingMeta)
                } else {
                    // Another writer moved the head: what was compacted goes onto theirs as the diff it made.
                    root = try await replay(from: baseRoot, to: working, onto: headRoot)
                    meta = try await replay(
                        from: baseMeta ?? TreeStore.emptyRoot, to: workingMeta ?? TreeStore.emptyRoot,
                        onto: headMeta ?? TreeStore.emptyRoot)
                }
            }
            (root, meta) = try await applyStaged(to: root, meta: meta)
            // One barrier makes every blob and node of this commit durable before the head points at them, or
            // the head's transaction journals their bytes.
            let barrierStarted = Date()
            let durability = try await store.makeBlobsDurable()
            let headStarted = Date()
            let commit = CommitInfo(
                id: VersionedStore.newID(), repo: repo, branch: branch, parent: head, tree: root,
                author: author, message: message, provenance: provenance, started: started,
                finished: store.clock(), meta: meta, traces: traces.isEmpty ? nil : traces)
            // A lease of its own goes with the commit, in its transaction; a shared one when its last writer is done.
            let releasing = store.sharedLeases.isShared(lease.id) ? nil : lease.id
            let request = CommitAppendRequest(commit, expectedHead: head, releasingLease: releasing)
            switch try await store.append(together: [request], durability) {
            case .appended:
                // First: what waits for the commit to be durable (a frame's detector) goes before the engine
                // and the others the commit feed wakes next.
                whenDurable?(commit)
                if releasing == nil { await store.leaveSharedLease(lease.id) }
                traceDurability(barrier: barrierStarted, head: headStarted, ended: Date())
                store.remember(commit)
                store.logger.debug(
                    "commit finished",
                    metadata: ["repo": "\(repo)", "commit": "\(commit.id)", "files": "\(root.files)"])
                store.commits.publish(commit)
                await store.forgetJournalCovered(by: durability)
                return commit
            case .headMoved(let current):
                // Another writer moved the head: replay our changes onto theirs, unless the caller says no.
                if let rebase, let current, try await !rebase(try await store.requireCommit(current, in: repo)) {
                    return nil
                }
                head = current
            }
        }
        throw VigilError(
            .io, "gave up finishing a commit on \(repo)@\(branch) after 1000 concurrent updates", value: branch)
    }

    /// The commit `finish` would make on the head this writer was opened on, its trees written and its id
    /// chosen, but not published: for `VersionedStore.publish(together:)`, which publishes several writers'
    /// commits in one transaction. The writer stays open; when that does not publish the commit, `finish` or
    /// `abandon` it as usual (`finish` builds its own).
    public func prepare(message: String = "", provenance: Provenance = Provenance()) async throws -> PreparedCommit {
        try checkOpen()
        while compacting != nil { try await Task.sleep(for: .milliseconds(1)) }
        // The working trees are the base's, with whatever was compacted already applied.
        let (root, meta) = try await applyStaged(to: working, meta: workingMeta)
        let commit = CommitInfo(
            id: VersionedStore.newID(), repo: repo, branch: branch, parent: baseHead, tree: root, author: author,
            message: message, provenance: provenance, started: started, finished: store.clock(), meta: meta,
            traces: traces.isEmpty ? nil : traces)
        return PreparedCommit(
            commit: commit, writer: self, releasingLease: store.sharedLeases.isShared(lease.id) ? nil : lease.id)
    }

    /// Closes the writer whose prepared commit `VersionedStore.publish(together:)` published.
    func published(_ commit: CommitInfo, barrier: Date, head: Date, ended: Date) async {
        closed = true
        if store.sharedLeases.isShared(lease.id) { await store.leaveSharedLease(lease.id) }
        traceDurability(barrier: barrier, head: head, ended: ended)
    }

    /// `root` and `meta` with what is staged applied. The data and meta trees are independent: their nodes are
    /// written side by side.
    private func applyStaged(to root: TreeRoot, meta: TreeRoot?) async throws -> (TreeRoot, TreeRoot?) {
        let trees = store.trees
        let (changes, metaChanges) = (self.changes, self.metaChanges)
        async let newRoot = trees.apply(changes, to: root)
        async let newMeta = metaChanges.isEmpty ? meta : trees.apply(metaChanges, to: meta ?? TreeStore.emptyRoot)
        let (applied, appliedMeta) = try await (newRoot, newMeta)
        return (applied, appliedMeta?.files == 0 ? nil : appliedMeta)
    }

    /// In each traced file's trace, the commit's two waits for the disk: the blob barrier, then the head's
    /// transaction (`synchronous = FULL` on SQLite). Named by repo (`barrier images`, `head detect`), so that a
    /// frame's steps show what each of its commits waited for.
    private func traceDurability(barrier: Date, head: Date, ended: Date) {
        guard !traces.isEmpty else { return }
        for headers in Set(traces.values) {
            let context = headers.context
            startSpan("barrier \(repo)", at: WallClockInstant(barrier), context: context).end(
                at: WallClockInstant(head))
            startSpan("head \(repo)", at: WallClockInstant(head), context: context).end(at: WallClockInstant(ended))
        }
    }

    /// Drops everything staged. Blobs already written are collected by gc if nothing else refers to them.
    public func abandon() async {
        guard !closed else { return }
        closed = true
        await releaseLease()
    }

    private func releaseLease() async {
        if store.sharedLeases.isShared(lease.id) { return await store.leaveSharedLease(lease.id) }
        // Best effort: a lease left behind only delays gc until it expires.
        try? await store.metadata.releaseLease(lease.id)
    }

    /// Applies what is staged to the commit's working trees now (their nodes go to the blob store), so that
    /// `finish` has only what is staged after it to write: for a commit whose changes trickle in while there
    /// is time to spare (a job whose datums run elsewhere), which would otherwise write every node at the end.
    public func applyStaged() async throws {
        try checkOpen()
        guard compacting == nil, !changes.isEmpty || !metaChanges.isEmpty else { return }
        try await applyToWorking()
    }

    /// Applies staged changes to the working trees once there are many, so memory stays bounded.
    private func compactIfLarge() async throws {
        stagedSinceCompaction += 1
        guard stagedSinceCompaction >= Self.compactionThreshold, compacting == nil else { return }
        try await applyToWorking()
    }

    private func applyToWorking() async throws {
        stagedSinceCompaction = 0
        // Swapped out first: other calls may stage while this one awaits the tree writes.
        let data = changes
        let meta = metaChanges
        changes = ChangeSet()
        metaChanges = ChangeSet()
        compacting = data
        defer { compacting = nil }
        working = try await store.trees.apply(data, to: working)
        if !meta.isEmpty {
            let applied = try await store.trees.apply(meta, to: workingMeta ?? TreeStore.emptyRoot)
            workingMeta = applied.files == 0 ? nil : applied
        }
        compacted = true
        compactions += 1
    }

    /// `onto` with the file changes that turned `old` into `new`.
    private func replay(from old: TreeRoot, to new: TreeRoot, onto target: TreeRoot) async throws -> TreeRoot {
        var replayed = ChangeSet()
        for change in try await store.trees.diff(from: old.hash, to: new.hash) {
            let components = try StorePath.components(change.path)
            try replayed.stage(change.new.map { .set($0) } ?? .remove, at: components[...], fullPath: change.path)
        }
        return try await store.trees.apply(replayed, to: target)
    }

    private func stage(_ change: TreeChange, at components: [String], path: String) async throws {
        try checkOpen()
        try changes.stage(change, at: components[...], fullPath: path)
        try await compactIfLarge()
        try await renewLeaseIfDue()
    }

    private func renewLeaseIfDue() async throws {
        let now = store.clock()
        if now.timeIntervalSince(lastHeartbeat) > Self.heartbeatInterval {
            lastHeartbeat = now
            try await store.metadata.renewLease(lease.id, now: now)
        }
    }

    private func checkOpen() throws {
        guard !closed else {
            throw VigilError(.commitClosed, "this commit on \(repo)@\(branch) is already finished or abandoned")
        }
    }

    private static func fileComponents(_ path: String) throws -> [String] {
        let components = try StorePath.components(path)
        guard !components.isEmpty else {
            throw VigilError(.badPath, "a file needs a path below '/', such as /name.jpg", value: path)
        }
        return components
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let self else { return nil }
        return try await transform(self)
    }
}
