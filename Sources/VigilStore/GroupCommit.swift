import Foundation

/// Files put on one branch by many callers at once (cameras uploading) become shared commits: while one commit
/// is being made, the files that arrive are staged in the next, which is made as soon as the first is done.
/// So a commit's tree update, barrier and head move are paid once per group instead of once per file, and
/// writers no longer race each other for the head. Each caller still returns only once the commit holding its
/// file is durable, and gets that commit. A lone caller waits for nobody: its commit starts at once.
///
/// A path is staged at most once per commit: a second put of a path already waiting goes into the commit
/// after, so neither put is silently replaced by the other. Several processes may each have their own group
/// commit on the same branch; their commits meet at the head's compare-and-swap like any other writers'.
public actor GroupCommit {
    public nonisolated let repo: String
    public nonisolated let branch: String?
    private let store: VersionedStore
    /// The commit now taking files, if any.
    private var open: Group?
    /// Whether a caller is opening the next commit, or making one (only one at a time, in order).
    private var opening = false
    private var committing = false
    /// Callers waiting for a commit to end or for a put to land.
    private var waiters: [CheckedContinuation<Void, Never>] = []

    /// Commits past this many files take no more; later files wait for the next.
    public static let maxFiles = 1_024

    public init(store: VersionedStore, repo: String, branch: String? = nil) {
        self.store = store
        self.repo = repo
        self.branch = branch
    }

    /// One commit in the making: its writer, what it holds and what is still being stored into it.
    private final class Group {
        let writer: CommitWriter
        var paths: Set<String> = []
        var authors: [String] = []
        var names: [String] = []
        /// What each put wants done as soon as the commit is durable.
        var whenDurable: [@Sendable (CommitInfo) -> Void] = []
        /// Puts still storing their bytes.
        var storing = 0
        var result: Result<CommitInfo, any Error>?

        init(writer: CommitWriter) { self.writer = writer }
    }

    /// Stores `file`'s bytes at `path` and returns once a commit holding them is published: the commit and what
    /// was stored. `author` is who sent the file; a commit of several authors names each once. `trace`, when
    /// given, is the trace the file belongs to (`CommitWriter.trace`). `whenDurable` is called as soon as that
    /// commit is durable, before this returns (`CommitWriter.finish`).
    public func put(
        _ path: String, contentsOf file: URL, author: String, trace: TraceHeaders? = nil,
        whenDurable: (@Sendable (CommitInfo) -> Void)? = nil
    ) async throws -> (CommitInfo, BlobWrite) {
        try await put(path, author: author, trace: trace, whenDurable: whenDurable) {
            try await $0.put(path, contentsOf: file)
        }
    }

    /// `put` of a spooled file (hashed as it was written), which the store takes as the blob itself
    /// (`BlobStore.put(movingFile:hash:size:)`).
    public func put(
        _ path: String, movingFile file: URL, hash: BlobHash, size: Int64, author: String, trace: TraceHeaders? = nil,
        whenDurable: (@Sendable (CommitInfo) -> Void)? = nil
    ) async throws -> (CommitInfo, BlobWrite) {
        try await put(path, author: author, trace: trace, whenDurable: whenDurable) {
            try await $0.put(path, movingFile: file, hash: hash, size: size)
        }
    }

    private func put(
        _ path: String, author: String, trace: TraceHeaders?, whenDurable: (@Sendable (CommitInfo) -> Void)?,
        storing: @Sendable (CommitWriter) async throws -> BlobWrite
    ) async throws -> (CommitInfo, BlobWrite) {
        let group = try await groupTaking(path, author: author)
        let written: BlobWrite
        do {
            written = try await storing(group.writer)
        } catch {
            group.storing -= 1
            group.paths.remove(path)
            // A commit nobody else joined is dropped rather than left holding its lease.
            if open === group, group.storing == 0, group.names.isEmpty {
                open = nil
                await group.writer.abandon()
            }
            wake()
            throw error
        }
        await group.writer.trace(path, trace)
        group.storing -= 1
        group.names.append(path)
        group.authors.append(author)
        if let whenDurable { group.whenDurable.append(whenDurable) }
        wake()
        while group.result == nil {
            if !committing {
                await commit(group)
            } else {
                await waitForChange()
            }
        }
        return (try group.result!.get(), written)
    }

    /// The open group, if it can take `path`; otherwise one opened once the open one is gone.
    private func groupTaking(_ path: String, author: String) async throws -> Group {
        while true {
            if let open, !open.paths.contains(path), open.paths.count < Self.maxFiles {
                open.paths.insert(path)
                open.storing += 1
                return open
            }
            if open == nil, !opening {
                opening = true
                defer {
                    opening = false
                    wake()
                }
                open = Group(writer: try await store.openCommit(repo: repo, branch: branch, author: author))
                continue
            }
            // Another caller is opening the next commit, or the open one already holds this path or is full.
            await waitForChange()
        }
    }

    /// Makes `group`'s commit (this caller leads; the others in it wait): takes no more files, waits for the
    /// puts still storing, then publishes.
    private func commit(_ group: Group) async {
        committing = true
        if open === group {
            open = nil
            // Callers waiting for a commit without their path may open the next one now.
            wake()
        }
        defer {
            committing = false
            wake()
        }
        // The leader's own file is stored, so the commit is never empty.
        while group.storing > 0 { await waitForChange() }
        do {
            let hooks = group.whenDurable
            let each: @Sendable (CommitInfo) -> Void = { commit in
                for hook in hooks { hook(commit) }
            }
            let whenDurable = hooks.isEmpty ? nil : each
            group.result = .success(
                try await group.writer.finish(
                    message: Self.message(group.names), author: Self.author(group.authors), whenDurable: whenDurable))
        } catch {
            group.result = .failure(error)
        }
    }

    private func waitForChange() async {
        await withCheckedContinuation { waiters.append($0) }
    }

    private func wake() {
        let woken = waiters
        waiters.removeAll()
        for waiter in woken { waiter.resume() }
    }

    /// "upload a.jpg", or "upload 3 files: a.jpg, b.jpg, c.jpg" (the first ten named), for paths /a.jpg….
    static func message(_ paths: [String]) -> String {
        let names = paths.map { $0.hasPrefix("/") ? String($0.dropFirst()) : $0 }
        guard names.count > 1 else { return "upload \(names.first ?? "")" }
        let shown = names.prefix(10).joined(separator: ", ")
        return "upload \(names.count) files: \(shown)\(names.count > 10 ? ", …" : "")"
    }

    /// The one author, or every distinct author in order of arrival (the first ten, then how many more).
    static func author(_ authors: [String]) -> String {
        var seen: Set<String> = []
        let distinct = authors.filter { seen.insert($0).inserted }
        guard distinct.count > 10 else { return distinct.joined(separator: ", ") }
        return distinct.prefix(10).joined(separator: ", ") + " and \(distinct.count - 10) more"
    }
}
