import Foundation

/// Which files an erasure takes: a test on a repo and a path, applied to every file of every commit.
public struct ErasureSelection: Sendable {
    /// What was asked for, as the requester gave it; recorded with the erasure.
    public var description: String
    public var matches: @Sendable (_ repo: String, _ path: String) -> Bool
    /// Files taken beside what `matches` takes, found before the walk because they describe files it takes (a
    /// verdict on an erased frame's alert, a dataset's manifest naming the frame): every version of each of
    /// `files`, and the single versions in `versions`.
    public private(set) var files: Set<String> = []
    public private(set) var versions: Set<String> = []
    /// Of `versions`, those of which something is kept (`ErasedEntry.remainder`).
    private var remainders: [String: Data] = [:]

    public init(_ description: String, matches: @escaping @Sendable (_ repo: String, _ path: String) -> Bool) {
        self.description = description
        self.matches = matches
    }

    /// Takes every version of `repo`'s file at `path`.
    public mutating func take(_ repo: String, _ path: String) {
        files.insert("\(repo)\u{0}\(path)")
    }

    /// Takes the version of `repo`'s file at `path` whose content is `hash`, and no other version of it.
    public mutating func take(_ repo: String, _ path: String, hash: BlobHash) {
        versions.insert("\(repo)\u{0}\(path)\u{0}\(hash.hex)")
    }

    /// Takes the version `hash` of `repo`'s file at `path`, keeping `remainder` of it: what is left when the
    /// personal data is taken out, for the readers of history that need the rest.
    public mutating func take(_ repo: String, _ path: String, hash: BlobHash, keeping remainder: Data) {
        take(repo, path, hash: hash)
        remainders["\(repo)\u{0}\(path)\u{0}\(hash.hex)"] = remainder
    }

    /// What is kept of the version `hash` of `repo`'s file at `path`, if the selection keeps anything.
    public func remainder(_ repo: String, _ path: String, hash: BlobHash) -> Data? {
        remainders.isEmpty ? nil : remainders["\(repo)\u{0}\(path)\u{0}\(hash.hex)"]
    }

    /// Whether the selection takes the version `hash` of `repo`'s file at `path`.
    public func takes(_ repo: String, _ path: String, hash: BlobHash) -> Bool {
        if matches(repo, path) { return true }
        guard !files.isEmpty || !versions.isEmpty else { return false }
        return files.contains("\(repo)\u{0}\(path)") || versions.contains("\(repo)\u{0}\(path)\u{0}\(hash.hex)")
    }
}

/// What an erasure takes, or took: found by walking every commit of every repo.
public struct ErasurePlan: Sendable {
    /// Every selected file, once per repo, path and content.
    public var entries: [ErasedEntry]
    /// The bytes no file outside the selection uses: these blobs go.
    public var removed: [BlobHash: Int64]
    /// Selected bytes that a file outside the selection also uses (the same frame from another camera): they
    /// stay for that file, and reading them through a selected one still fails.
    public var kept: Set<BlobHash>
    /// Commits read, and file entries looked at (each commit's new or changed files; a first commit's all).
    public var commits = 0
    public var files = 0

    public var removedBytes: Int64 { removed.values.reduce(0, +) }
}

/// What `erase` did.
public struct ErasureReport: Sendable {
    public var erasure: ErasureInfo
    public var plan: ErasurePlan
    /// The commits that took the selected files out of branch heads.
    public var headCommits: [CommitInfo]
    /// Blobs deleted now (a blob already gone is not counted), and their bytes.
    public var blobsDeleted: Int
    public var bytesDeleted: Int64
}

extension VersionedStore {
    /// Finds every file of every commit of every repo that `selection` takes. A commit is read as its changes
    /// from its parent (equal subtrees skipped by hash), and only a first commit whole, so the cost follows
    /// what history added, not commits × files.
    /// `width` commits are diffed at once (default: one per core).
    public func planErasure(_ selection: ErasureSelection, width: Int? = nil) async throws -> ErasurePlan {
        var walk = ErasureWalk(selection: selection)
        for repo in try await repos() {
            let commits = try await metadata.allCommits(in: repo.name)
            let byID = Dictionary(commits.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
            var diffs: [(old: BlobHash, new: BlobHash)] = []
            for commit in commits {
                walk.commits += 1
                guard let parent = commit.parent.flatMap({ byID[$0] }) else {
                    try await walk.directory(commit.tree.hash, path: "", repo: repo.name, trees: trees)
                    continue
                }
                diffs.append((parent.tree.hash, commit.tree.hash))
            }
            // Commits are diffed side by side, a window at a time (each diff is its own reads and decoding;
            // the window bounds how many diffs are held at once), and taken in in order.
            let width = max(1, width ?? ProcessInfo.processInfo.activeProcessorCount)
            for start in stride(from: 0, to: diffs.count, by: width * 4) {
                let window = Array(diffs[start..<min(start + width * 4, diffs.count)])
                let found = try await window.concurrentMap(width: width) { [trees] pair in
                    try await ErasureWalk.files(
                        changedFrom: pair.old, to: pair.new, repo: repo.name, selection: selection, trees: trees)
                }
                for files in found {
                    for file in files {
                        walk.file(
                            path: file.path, hash: file.hash, size: file.size, repo: repo.name, selected: file.selected)
                    }
                }
            }
        }
        let selectedHashes = Set(walk.entries.map(\.hash))
        var removed: [BlobHash: Int64] = [:]
        for entry in walk.entries where !walk.used.contains(entry.hash) { removed[entry.hash] = entry.size }
        return ErasurePlan(
            entries: walk.entries.sorted { ($0.repo, $0.path) < ($1.repo, $1.path) }, removed: removed,
            kept: selectedHashes.intersection(walk.used), commits: walk.commits, files: walk.files)
    }

    /// Erases the files `selection` takes, from every branch and every commit, for good:
    /// 1. records the erasure and its entries (so that from then on reads of them answer `erased`);
    /// 2. takes the selected files out of every branch head that still has them, one commit per branch
    ///    (pipelines then drop what they produced from them, as for any deletion);
    /// 3. deletes the blobs no other file uses, wherever the blob store keeps them (a folder, or S3).
    /// Commits, trees and provenance stay byte for byte as they were. Running it again finishes what an
    /// interrupted run left (step 3 is idempotent; an entry erased before keeps its first record).
    public func erase(
        _ selection: ErasureSelection, requester: String, reason: String, now: Date = Date()
    ) async throws -> ErasureReport {
        try Self.checkErasureReason(reason)
        return try await erase(
            planned: try await planErasure(selection), selection: selection.description, requester: requester,
            reason: reason, now: now)
    }

    /// `erase` of a plan made before (by `planErasure`, perhaps narrowed): steps 1 to 3 without walking
    /// history again. `selection` is what was asked for, as recorded.
    public func erase(
        planned plan: ErasurePlan, selection: String, requester: String, reason: String, now: Date = Date()
    ) async throws -> ErasureReport {
        try Self.checkErasureReason(reason)
        try await checkKeptVersionsAreNotInForce(plan)
        let erasure = ErasureInfo(
            id: Self.newID(), time: now,
            requester: requester, reason: reason, selection: selection)
        try await metadata.recordErasure(erasure, entries: plan.entries)

        var headCommits: [CommitInfo] = []
        let byRepo = Dictionary(grouping: plan.entries, by: \.repo)
        for (repo, entries) in byRepo.sorted(by: { $0.key < $1.key }) {
            for branch in try await metadata.branches(in: repo) {
                guard let head = try await resolveCommit(repo, ref: branch.name) else { continue }
                var present: [String] = []
                for entry in entries {
                    if let found = try await trees.lookup(entry.path, in: head.tree), found.hash == entry.hash {
                        present.append(entry.path)
                    }
                }
                guard !present.isEmpty else { continue }
                headCommits.append(
                    try await delete(
                        present, from: repo, branch: branch.name, author: requester,
                        message: "erase \(erasure.id): \(reason)"))
            }
        }

        // A journaled copy of an erased blob would outlive it, and a store opened later would write it again.
        try await metadata.blobJournal?.forgetJournaled(Array(plan.removed.keys))
        var (deleted, bytesDeleted) = (0, Int64(0))
        for (hash, size) in plan.removed.sorted(by: { $0.key.hex < $1.key.hex })
        where try await blobs.delete(hash, ifNotModifiedSince: .distantFuture) {
            deleted += 1
            bytesDeleted += size
        }
        logger.notice(
            "erased",
            metadata: [
                "erasure": "\(erasure.id)", "selection": "\(selection)", "entries": "\(plan.entries.count)",
                "blobs": "\(deleted)", "kept": "\(plan.kept.count)",
            ])
        return ErasureReport(
            erasure: erasure, plan: plan, headCommits: headCommits, blobsDeleted: deleted, bytesDeleted: bytesDeleted)
    }

    /// A version the plan keeps a remainder of was not at any branch head when planned (the rules in force are
    /// never taken); if one is now (a head put back to it meanwhile), taking it would take the rules in force.
    private func checkKeptVersionsAreNotInForce(_ plan: ErasurePlan) async throws {
        for entry in plan.entries where entry.remainder != nil {
            for branch in try await metadata.branches(in: entry.repo) {
                guard let head = try await resolveCommit(entry.repo, ref: branch.name),
                    try await trees.lookup(entry.path, in: head.tree)?.hash == entry.hash
                else { continue }
                throw VigilError(
                    .pathConflict,
                    "\(entry.repo)@\(branch.name):\(entry.path) was put back to a version this erasure would redact "
                        + "while it was planned; nothing was erased: run the erasure again", value: entry.path)
            }
        }
    }

    private static func checkErasureReason(_ reason: String) throws {
        guard !reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw VigilError(.badArgument, "an erasure needs a reason (who asked, and why)", value: reason)
        }
    }
}

extension ErasurePlan {
    /// The plan without the entries an earlier erasure took already (their bytes are gone; the log keeps the
    /// first erasure of each): what a repeated selection, such as retention's, still has to do.
    public func withoutErased(in log: any ErasureLog) async throws -> ErasurePlan {
        var fresh: [ErasedEntry] = []
        for entry in entries where try await log.erasure(repo: entry.repo, path: entry.path, hash: entry.hash) == nil {
            fresh.append(entry)
        }
        var plan = self
        plan.entries = fresh
        let hashes = Set(fresh.map(\.hash))
        plan.removed = removed.filter { hashes.contains($0.key) }
        plan.kept = kept.intersection(hashes)
        return plan
    }
}

/// One pass over history for an erasure: the selected files, and every hash a file outside the selection
/// uses.
private struct ErasureWalk {
    let selection: ErasureSelection
    var entries: [ErasedEntry] = []
    var selectedKeys: Set<String> = []
    var used: Set<BlobHash> = []
    var visited: Set<String> = []
    var commits = 0
    var files = 0

    mutating func directory(_ hash: BlobHash, path: String, repo: String, trees: TreeStore) async throws {
        // The same subtree at the same place is the same files.
        guard visited.insert("\(repo)\u{0}\(path)\u{0}\(hash.hex)").inserted else { return }
        var children: [TreeEntry] = []
        try await trees.forEachEntry(ofDirectory: hash) { children.append($0) }
        for child in children {
            let childPath = path + "/" + child.name
            if child.kind == .directory {
                try await directory(child.hash, path: childPath, repo: repo, trees: trees)
            } else {
                file(path: childPath, hash: child.hash, size: child.size, repo: repo)
            }
        }
    }

    /// The files a commit added or changed (its diff from its parent, without removals and directories), and
    /// whether the selection takes each: the part of the walk that runs side by side.
    static func files(
        changedFrom old: BlobHash, to new: BlobHash, repo: String, selection: ErasureSelection, trees: TreeStore
    ) async throws -> [(path: String, hash: BlobHash, size: Int64, selected: Bool)] {
        try await trees.diff(from: old, to: new).compactMap { change in
            guard change.change != .removed, let new = change.new, new.kind == .file else { return nil }
            return (change.path, new.hash, new.size, selection.takes(repo, change.path, hash: new.hash))
        }
    }

    mutating func file(path: String, hash: BlobHash, size: Int64, repo: String, selected: Bool? = nil) {
        files += 1
        if selected ?? selection.takes(repo, path, hash: hash) {
            if selectedKeys.insert("\(repo)\u{0}\(path)\u{0}\(hash.hex)").inserted {
                entries.append(
                    ErasedEntry(
                        repo: repo, path: path, hash: hash, size: size,
                        remainder: selection.remainder(repo, path, hash: hash)))
            }
        } else {
            used.insert(hash)
        }
    }
}

/// An erasure (or a dry run) as the CLI prints it and the API answers it.
public struct ErasureSummary: Sendable, Codable {
    public var erasure: ErasureInfo?
    public var dryRun: Bool
    public var files: Int
    public var blobs: Int
    public var bytes: Int64
    public var keptForOtherFiles: Int
    public var commitsWalked: Int
    public var headCommits: [String]
    public var entries: [ErasedEntry]
    /// Alerts forgotten with a customer's frames (their records hold its contacts); on a dry run, how many would be.
    public var alertsForgotten = 0
    /// What the erasure left, and why (a customer still in the rules in force keeps its contacts there).
    public var notes: [String] = []

    public init(plan: ErasurePlan, report: ErasureReport?) {
        erasure = report?.erasure
        dryRun = report == nil
        files = plan.entries.count
        // An erasure counts what it deleted: a file erased before (a second erasure of a camera, a rules
        // version redacted further) is taken again but its blob is already gone. A dry run cannot tell.
        blobs = report?.blobsDeleted ?? plan.removed.count
        bytes = report?.bytesDeleted ?? plan.removedBytes
        keptForOtherFiles = plan.kept.count
        commitsWalked = plan.commits
        headCommits = report?.headCommits.map { "\($0.repo)@\($0.id)" } ?? []
        entries = plan.entries
    }
}
