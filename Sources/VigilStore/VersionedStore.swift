import Foundation
import Logging
import Synchronization

/// The versioned, content-addressed store: repos of commits over Merkle trees, blobs in a `BlobStore`,
/// everything else in a `MetadataStore`. Knows nothing of images or pipelines.
public final class VersionedStore: Sendable {
    public let blobs: any BlobStore
    public let metadata: any MetadataStore
    public let trees: TreeStore
    public let defaultBranch: String
    /// Every commit finished through this store object, as it happens.
    public let commits = CommitFeed()
    private let commitCache = CommitCache()
    /// Writer leases this process's commits share while a `WriterLeaseKeeper` runs.
    public let sharedLeases = SharedWriterLeases()
    let logger: Logger
    let clock: @Sendable () -> Date
    /// Rows this process journaled since a barrier last dropped them (`makeBlobsDurable`).
    let journalRowsKept = Mutex<Int>(0)

    public init(
        blobs: any BlobStore, metadata: any MetadataStore, defaultBranch: String = "master", logger: Logger,
        clock: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.blobs = blobs
        self.metadata = metadata
        self.trees = TreeStore(blobs: blobs)
        self.defaultBranch = defaultBranch
        self.logger = logger
        self.clock = clock
    }

    /// Blobs under `<home>/blobs`, or in S3 when the folder's `config.json` (merged with `configuration`,
    /// whose fields win) names an `s3://` store; metadata in `metadata` when given (a shared database, which
    /// the composition root opens), else in the data folder's SQLite file.
    /// With `create`, makes the folder and records a configuration that names a store or a database; without,
    /// a folder that was never initialized is a `not-initialized` error, unless the metadata lives elsewhere
    /// (then any folder, even a new empty one, serves as this process's scratch space). An S3 store is checked
    /// once here (bucket, credentials, endpoint), so a wrong setting fails before any work starts.
    public static func open(
        home: URL, create: Bool = false, configuration overrides: StoreConfiguration = StoreConfiguration(),
        environment: [String: String] = ProcessInfo.processInfo.environment,
        metadata shared: (any MetadataStore)? = nil,
        logger: Logger
    ) async throws -> VersionedStore {
        if !create, shared == nil { try requireInitialized(home: home) }
        try DataFolder.create(home, logger: logger)
        let recorded = try StoreConfiguration.read(home: home)
        let configuration = recorded.merged(with: overrides)
        let metadata = try shared ?? SQLiteMetadataStore(path: home.appendingPathComponent(metadataFile).path)
        let blobs: any BlobStore
        if let s3 = try configuration.s3Configuration(environment: environment) {
            let store = S3BlobStore(configuration: s3, logger: logger)
            try await store.verifyAccess()
            blobs = store
            logger.info("blobs in S3", metadata: ["store": "\(s3.location)", "endpoint": "\(s3.endpoint)"])
        } else {
            blobs = try FileSystemBlobStore(
                root: home.appendingPathComponent("blobs"), journaling: metadata.blobJournal != nil)
        }
        if create, configuration != recorded, configuration.store != nil || configuration.database != nil {
            try configuration.write(home: home)
        }
        let store = VersionedStore(blobs: blobs, metadata: metadata, logger: logger)
        try await store.recoverJournaledBlobs()
        // Writing the empty tree is idempotent (content-addressed); a process on a shared database may be the
        // first to use a new bucket.
        if create || shared != nil { try await store.trees.writeEmptyRoot() }
        return store
    }

    /// The embedded default's metadata file in a data folder.
    public static let metadataFile = "metadata.sqlite"

    /// Throws `not-initialized` unless `home` is a Vigil data folder (for parts that keep their own files there):
    /// one with the embedded metadata, or one whose `config.json` names a shared database.
    public static func requireInitialized(home: URL) throws {
        if FileManager.default.fileExists(atPath: home.appendingPathComponent(metadataFile).path) { return }
        if (try? StoreConfiguration.read(home: home).database) != nil { return }
        throw VigilError(
            .notInitialized,
            "no Vigil data folder at '\(home.path)'; run `vigil init` there, or pass --home or set VIGIL_HOME",
            value: home.path)
    }

    /// 128 random bits as 32 lower-case hex digits: the ids of commits, erasures and the engine's jobs.
    public static func newID() -> String {
        Hex.randomID()
    }

    // MARK: Repos

    @discardableResult
    public func createRepo(_ name: String, description: String = "") async throws -> RepoInfo {
        try Names.validateRepo(name)
        try await trees.writeEmptyRoot()
        let repo = RepoInfo(name: name, description: description, created: clock())
        try await metadata.createRepo(repo, defaultBranch: defaultBranch)
        logger.info("repo created", metadata: ["repo": "\(name)"])
        return repo
    }

    /// Makes `name` unless it is there: for repos made with their first record (holds, verdicts, datasets), by
    /// whichever process writes first.
    public func createRepoIfMissing(_ name: String, description: String) async throws {
        if (try? await repo(name)) != nil { return }
        do {
            _ = try await createRepo(name, description: description)
        } catch let error as VigilError where error.code == .repoExists {
            // Another process made it first.
        }
    }

    public func repos() async throws -> [RepoInfo] {
        try await metadata.repos()
    }

    public func repo(_ name: String) async throws -> RepoInfo {
        guard let repo = try await metadata.repo(named: name) else { throw VigilError.repoNotFound(name) }
        return repo
    }

    public func deleteRepo(_ name: String) async throws {
        try await metadata.deleteRepo(named: name)
        commitCache.removeAll(in: name)
        logger.info("repo deleted", metadata: ["repo": "\(name)"])
    }

    // MARK: Branches

    public func branches(of repo: String) async throws -> [BranchInfo] {
        _ = try await self.repo(repo)
        return try await metadata.branches(in: repo)
    }

    /// Creates branch `name` at `ref` (a branch, commit or ancestor spec), or empty when `ref` is nil.
    @discardableResult
    public func createBranch(_ name: String, in repo: String, at ref: String? = nil) async throws -> BranchInfo {
        try Names.validateBranch(name)
        let head = try await ref.asyncMap { try await resolveCommit(repo, ref: $0)?.id }
        guard try await metadata.setBranch(name, in: repo, head: head ?? nil, expected: .absent) else {
            throw VigilError(.branchExists, "branch '\(name)' already exists in repo '\(repo)'", value: name)
        }
        return BranchInfo(repo: repo, name: name, head: head ?? nil)
    }

    public func deleteBranch(_ name: String, in repo: String) async throws {
        _ = try await self.repo(repo)
        try await metadata.deleteBranch(name, in: repo)
    }

    // MARK: Writing

    /// Opens a commit on `branch` (the default branch if nil). The branch must exist.
    public func openCommit(
        repo: String, branch: String? = nil, author: String = "vigil"
    ) async throws
        -> CommitWriter
    {
        let branch = branch ?? defaultBranch
        if let shared = sharedLeases.join(now: clock()) {
            // A lease taken a moment ago by another commit covers this one too: no write, only the branch read.
            do {
                guard let info = try await metadata.branch(branch, in: repo) else {
                    throw try await missingBranch(branch, in: repo)
                }
                let base = try await info.head.asyncMap { try await requireCommit($0, in: repo) }
                return CommitWriter(
                    store: self, repo: repo, branch: branch, author: author, base: base, lease: shared,
                    started: clock())
            } catch {
                await leaveSharedLease(shared.id)
                throw error
            }
        }
        // The lease and the branch in one call: every upload opens a commit.
        guard
            let leased = try await metadata.leaseBranch(
                branch, in: repo, holder: "commit \(repo)@\(branch)", now: clock())
        else { throw try await missingBranch(branch, in: repo) }
        do {
            let base = try await leased.branch.head.asyncMap { try await requireCommit($0, in: repo) }
            let writer = CommitWriter(
                store: self, repo: repo, branch: branch, author: author, base: base, lease: leased.lease,
                started: leased.lease.started)
            // Later commits may join this lease; the one it replaces goes when nobody holds it.
            if let replaced = sharedLeases.adopt(leased.lease) { try? await releaseSharedLease(replaced) }
            return writer
        } catch {
            try? await metadata.releaseLease(leased.lease.id)
            throw error
        }
    }

    /// The error for a branch that is not there (or the repo's, when the repo is not there either).
    private func missingBranch(_ branch: String, in repo: String) async throws -> VigilError {
        _ = try await self.repo(repo)
        return VigilError(
            .branchNotFound,
            "no branch '\(branch)' in repo '\(repo)'; create it with `vigil branch create \(repo) \(branch)`",
            value: branch)
    }

    /// A writer of shared lease `id` is done with it: released when it was the last writer of a lease that
    /// takes no more.
    func leaveSharedLease(_ id: String) async {
        if sharedLeases.leave(id, now: clock()) { try? await releaseSharedLease(id) }
    }

    /// Releases a shared lease nobody holds; one that fails is left to the keeper to try again, and its error
    /// thrown for the caller that says so.
    func releaseSharedLease(_ id: String) async throws {
        do {
            try await metadata.releaseLease(id)
        } catch {
            sharedLeases.releaseFailed(id)
            throw error
        }
    }

    /// Copies the file or directory at `source` to `destination` (a branch, not a commit) as a new commit.
    /// Stores no bytes: the destination names the same blobs and tree nodes.
    public func copy(
        from source: Address, to destination: Address, author: String = "vigil", message: String? = nil
    )
        async throws -> CommitInfo
    {
        let (commit, entry) = try await entry(at: source)
        if let ref = destination.ref, try RefSpec.parse(ref, address: destination.description).ancestors > 0 {
            throw VigilError(.badAddress, "copy into a branch, not into '\(ref)'", value: destination.description)
        }
        let writer = try await openCommit(repo: destination.repo, branch: destination.ref, author: author)
        do {
            try await writer.set(destination.path, to: entry.value)
            var provenance = Provenance()
            if let commit, commit.repo != destination.repo { provenance.inputs = [commit.reference] }
            return try await writer.finish(
                message: message ?? "copy \(source) to \(destination)", provenance: provenance)
        } catch {
            await writer.abandon()
            throw error
        }
    }

    // MARK: Reading

    /// The commit `ref` names in `repo` (nil ref: the default branch); nil when the branch has no commit yet.
    public func resolveCommit(_ repo: String, ref: String?) async throws -> CommitInfo? {
        // A whole commit id needs no branch or prefix search.
        if let ref, ref.utf8.count == 32, let commit = try await commit(id: ref), commit.repo == repo {
            return commit
        }
        let spec = try RefSpec.parse(ref ?? defaultBranch, address: "\(repo)@\(ref ?? defaultBranch)")
        var commit: CommitInfo?
        // A branch implies its repo, so the repo is looked up only when there is no branch (every pipeline step
        // resolves its output's head: one round trip fewer on a shared database).
        let branch = try await metadata.branch(spec.base, in: repo)
        if branch == nil { _ = try await self.repo(repo) }
        if let branch {
            guard let head = branch.head else {
                if spec.ancestors == 0 { return nil }
                throw VigilError(.commitNotFound, "branch '\(spec.base)' of '\(repo)' has no commits yet", value: ref)
            }
            commit = try await requireCommit(head, in: repo)
        } else if spec.base.count >= 4, spec.base.allSatisfy(\.isHexDigit) {
            let matches = try await metadata.commits(withPrefix: spec.base.lowercased(), in: repo, limit: 2)
            guard matches.count < 2 else {
                throw VigilError(
                    .ambiguousCommit, "'\(spec.base)' matches several commits of '\(repo)'; give more digits",
                    value: spec.base)
            }
            guard let match = matches.first else {
                throw VigilError(
                    .commitNotFound, "no branch or commit '\(spec.base)' in repo '\(repo)'", value: spec.base)
            }
            commit = match
        } else {
            throw VigilError(
                .branchNotFound, "no branch '\(spec.base)' in repo '\(repo)'; `vigil branch list \(repo)` shows them",
                value: spec.base)
        }
        for step in 0..<spec.ancestors {
            guard let parent = commit?.parent else {
                throw VigilError(
                    .commitNotFound,
                    "'\(ref ?? "")' goes back \(spec.ancestors) commits but history ends after \(step)",
                    value: ref)
            }
            commit = try await requireCommit(parent, in: repo)
        }
        return commit
    }

    /// A commit by id (from a cache: commits never change), or nil.
    public func commit(id: String) async throws -> CommitInfo? {
        if let cached = commitCache.commit(id) { return cached }
        guard let commit = try await metadata.commit(id: id) else { return nil }
        commitCache.insert(commit)
        return commit
    }

    func remember(_ commit: CommitInfo) {
        commitCache.insert(commit)
    }

    func requireCommit(_ id: String, in repo: String) async throws -> CommitInfo {
        guard let commit = try await commit(id: id), commit.repo == repo else {
            throw VigilError(.commitNotFound, "no commit \(id) in repo '\(repo)'", value: id)
        }
        return commit
    }

    /// The commit an address names and the entry at its path.
    public func entry(at address: Address) async throws -> (commit: CommitInfo?, entry: TreeEntry) {
        let commit = try await resolveCommit(address.repo, ref: address.ref)
        let root = commit?.tree ?? TreeStore.emptyRoot
        guard let entry = try await trees.lookup(address.path, in: root) else {
            throw VigilError.pathNotFound(address.path, in: commit.map { "\(address.repo)@\($0.id)" } ?? "\(address)")
        }
        return (commit, entry)
    }

    /// `ls`: the entries of the directory at the address, or the file itself.
    public func list(_ address: Address) async throws -> [TreeEntry] {
        let (_, entry) = try await entry(at: address)
        guard entry.kind == .directory else { return [entry] }
        return try await trees.entries(ofDirectory: entry.hash)
    }

    /// `cat`: the bytes of the file at the address.
    public func read(_ address: Address) async throws -> Data {
        let (_, entry) = try await entry(at: address)
        guard entry.kind == .file else {
            throw VigilError(.notAFile, "'\(address)' is a directory; `vigil ls` lists it", value: address.description)
        }
        return try await readFile(repo: address.repo, path: address.path, hash: entry.hash)
    }

    /// The bytes `hash` of the file at `path` of `repo`; `erased` when an erasure took them there, or when
    /// they are gone because one took them at another path.
    public func readFile(repo: String, path: String, hash: BlobHash) async throws -> Data {
        try await checkNotErased(repo: repo, path: path, hash: hash)
        do {
            return try await blobs.get(hash)
        } catch let error as VigilError where error.code == .blobNotFound {
            guard try await metadata.isErased(hash) else { throw error }
            throw VigilError(
                .erased, "the bytes of \(repo):\(path) were erased (they were also another erased file's)",
                value: path)
        }
    }

    /// Throws `erased`, with who asked and why, when an erasure took the bytes `hash` at `path` of `repo`; for
    /// what reads them past the store (a cache of thumbnails).
    public func checkNotErased(repo: String, path: String, hash: BlobHash) async throws {
        if let erasure = try await metadata.erasure(repo: repo, path: path, hash: hash) {
            throw VigilError.erased("\(repo):\(path)", by: erasure)
        }
    }

    /// Commits reachable from `ref` by parent links, newest first.
    public func log(_ repo: String, ref: String? = nil, limit: Int = .max) async throws -> [CommitInfo] {
        var out: [CommitInfo] = []
        var next = try await resolveCommit(repo, ref: ref)
        while let commit = next, out.count < limit {
            out.append(commit)
            next = try await commit.parent.asyncMap { try await requireCommit($0, in: repo) }
        }
        return out
    }

    /// The files that differ between two addresses (their paths must name directories or files).
    public func diff(from old: Address, to new: Address) async throws -> [DiffEntry] {
        let oldEntry = try await optionalEntry(at: old)
        let newEntry = try await optionalEntry(at: new)
        return try await diff(oldEntry, newEntry, path: new.path)
    }

    /// The files a commit changed relative to its parent.
    public func diff(commit address: Address) async throws -> [DiffEntry] {
        guard let commit = try await resolveCommit(address.repo, ref: address.ref) else { return [] }
        let parentRoot = try await commit.parent.asyncMap { try await requireCommit($0, in: address.repo).tree }
        let old = try await trees.lookup(address.path, in: parentRoot ?? TreeStore.emptyRoot)
        let new = try await trees.lookup(address.path, in: commit.tree)
        return try await diff(old, new, path: address.path)
    }

    private func diff(_ old: TreeEntry?, _ new: TreeEntry?, path: String) async throws -> [DiffEntry] {
        func directoryHash(_ entry: TreeEntry?) -> BlobHash? {
            guard let entry else { return TreeStore.emptyHash }
            return entry.kind == .directory ? entry.hash : nil
        }
        if let oldDirectory = directoryHash(old), let newDirectory = directoryHash(new) {
            return try await trees.diff(from: oldDirectory, to: newDirectory, path: path)
        }
        switch (old, new) {
        case (let old?, let new?) where old.kind == .file && new.kind == .file:
            return old.hash == new.hash
                ? [] : [DiffEntry(path: path, change: .modified, old: old.value, new: new.value)]
        default:
            // A file on one side and a directory (or nothing) on the other: compare as directories holding them.
            let wrap: (TreeEntry?) async throws -> BlobHash = { entry in
                guard let entry else { return TreeStore.emptyHash }
                var changes = ChangeSet()
                try changes.stage(.set(entry.value), at: ["_"], fullPath: path)
                return try await self.trees.apply(changes, to: TreeStore.emptyRoot).hash
            }
            let parent = String(path.split(separator: "/").dropLast().joined(separator: "/"))
            return try await trees.diff(from: try await wrap(old), to: try await wrap(new), path: "/" + parent)
                .map { entry in
                    var entry = entry
                    entry.path = path
                    return entry
                }
        }
    }

    private func optionalEntry(at address: Address) async throws -> TreeEntry? {
        let commit = try await resolveCommit(address.repo, ref: address.ref)
        return try await trees.lookup(address.path, in: commit?.tree ?? TreeStore.emptyRoot)
    }

    // MARK: Provenance

    /// The commits `commit` was computed from; with `transitive`, their inputs too, back to the data put in.
    public func provenance(of commit: CommitReference, transitive: Bool = false) async throws -> [CommitReference] {
        try await closure(from: commit, transitive: transitive) { reference in
            try await self.requireCommit(reference.commit, in: reference.repo).provenance.inputs
        }
    }

    /// The commits computed from `commit`; with `transitive`, everything downstream.
    public func subvenance(of commit: CommitReference, transitive: Bool = false) async throws -> [CommitReference] {
        _ = try await requireCommit(commit.commit, in: commit.repo)
        return try await closure(from: commit, transitive: transitive) { try await self.metadata.subvenance(of: $0) }
    }

    private func closure(
        from start: CommitReference, transitive: Bool, next: (CommitReference) async throws -> [CommitReference]
    ) async throws -> [CommitReference] {
        var seen: Set<CommitReference> = [start]
        var out: [CommitReference] = []
        var queue = [start]
        while !queue.isEmpty {
            let current = queue.removeFirst()
            for reference in try await next(current) where seen.insert(reference).inserted {
                out.append(reference)
                if transitive { queue.append(reference) }
            }
        }
        return out
    }
}

extension VersionedStore {
    /// A file of a commit's hidden meta tree, or nil when it has none there.
    public func readMeta(_ commit: CommitInfo, _ path: String) async throws -> Data? {
        guard let meta = commit.meta, let entry = try await trees.lookup(path, in: meta), entry.kind == .file else {
            return nil
        }
        return try await blobs.get(entry.hash)
    }

    /// The entries of a folder of a commit's meta tree (empty when absent).
    public func listMeta(_ commit: CommitInfo, _ path: String) async throws -> [TreeEntry] {
        guard let meta = commit.meta, let entry = try await trees.lookup(path, in: meta), entry.kind == .directory
        else { return [] }
        return try await trees.entries(ofDirectory: entry.hash)
    }
}
