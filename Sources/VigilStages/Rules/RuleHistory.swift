import Foundation
import Synchronization
import VigilStore

/// The rules repo read as history: the rule book of its head, and who owned each device when
/// (`DeviceOwnership`). Each rules tree is parsed once, and the ownership is rebuilt only when the head moves.
public final class RuleHistory: Sendable {
    public let store: VersionedStore
    public let repo: String
    private let cache = RuleBookCache()
    private let built = Mutex<(head: String, ownership: DeviceOwnership)?>(nil)

    public init(store: VersionedStore, repo: String) {
        self.store = store
        self.repo = repo
    }

    /// Who owned which device when, by the rules repo's history (the empty ownership before any rules).
    public func ownership() async throws -> DeviceOwnership {
        guard let head = try await store.resolveCommit(repo, ref: nil) else { return DeviceOwnership(history: []) }
        if let built = built.withLock({ $0 }), built.head == head.id { return built.ownership }
        var history: [(time: Double, book: RuleBook)] = []
        for commit in try await store.log(repo, ref: head.id).reversed() {
            // A version that does not parse judged nothing (the threats stage refuses it too): ownership stays
            // as the last good one had it.
            do {
                history.append((commit.finished.timeIntervalSince1970, try await book(of: commit)))
            } catch is RuleError {
                continue
            }
        }
        let ownership = DeviceOwnership(history: history)
        built.withLock { $0 = (head.id, ownership) }
        return ownership
    }

    /// The rule book of the head: nil before any rules; the `RuleError` naming the file and field when the
    /// head's rules do not parse.
    public func current() async throws -> RuleBook? {
        guard let head = try await store.resolveCommit(repo, ref: nil) else { return nil }
        return try await book(of: head)
    }

    /// The book of one rules version. A file an erasure took is read from what it kept (`RuleFileRemainder`:
    /// its customers, an erased customer without name and contacts); one it kept nothing of makes the version
    /// a `RuleError`, as it was before (it did not parse).
    private func book(of commit: CommitInfo) async throws -> RuleBook {
        try await cache.book(tree: commit.tree.hash) { () async throws -> [(name: String, customers: [Customer])] in
            let anyErased = try await store.metadata.erasureCount() > 0
            var files: [(name: String, customers: [Customer])] = []
            for file in try await ruleFiles(of: commit) {
                let name = String(file.path.dropFirst())
                switch try await content(of: file.path, hash: file.hash, anyErased: anyErased) {
                case .text(let text): files.append((name, try RuleBookParser.parse(text, file: name)))
                case .kept(let customers): files.append((name, customers))
                case .erasedWhole:
                    // Taken whole (it did not parse): like any version that does not parse, it judged nothing,
                    // so ownership stays as the version before had it.
                    throw RuleError(
                        file: name, field: "rules", "was erased whole (it did not parse): this version judged nothing")
                }
            }
            return files
        }
    }

    /// The rules files of `commit`, with their paths.
    func ruleFiles(of commit: CommitInfo) async throws -> [(path: String, hash: BlobHash)] {
        var files: [(path: String, hash: BlobHash)] = []
        var folders = [(path: "", hash: commit.tree.hash)]
        while let folder = folders.popLast() {
            for entry in try await store.trees.entries(ofDirectory: folder.hash) {
                let path = folder.path + "/" + entry.name
                if entry.kind == .directory {
                    folders.append((path, entry.hash))
                } else if RuleBookCache.isRuleFile(entry.name) {
                    files.append((path, entry.hash))
                }
            }
        }
        return files
    }

    /// One version of a rules file, as history reads it.
    enum Content {
        /// Not erased: its text.
        case text(String)
        /// Erased, with what the erasure kept: its customers, the erased ones without name and contacts.
        case kept([Customer])
        /// Erased with nothing kept (it did not parse).
        case erasedWhole
    }

    /// The version `hash` of the rules file at `path`; `anyErased: false` (no erasure was ever recorded) skips
    /// the look at the erasure log.
    func content(of path: String, hash: BlobHash, anyErased: Bool = true) async throws -> Content {
        if anyErased, try await store.metadata.erasure(repo: repo, path: path, hash: hash) != nil {
            guard let kept = try await store.metadata.remainder(repo: repo, path: path, hash: hash) else {
                return .erasedWhole
            }
            return .kept(try RuleFileRemainder.decode(kept, path: path).customers)
        }
        return .text(String(decoding: try await store.blobs.get(hash), as: UTF8.self))
    }
}
