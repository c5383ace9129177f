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
            var folders = ["/"]
            while let folder = folders.popLast() {
                for entry in try await store.list(Address(repo: repo, ref: commit.id, path: folder)) {
                    let path = (folder == "/" ? "/" : folder + "/") + entry.name
                    if entry.kind == .directory {
                        folders.append(path)
                        continue
                    }
                    guard RuleBookCache.isRuleFile(entry.name) else { continue }
                    let name = String(path.dropFirst())
                    if anyErased, try await store.metadata.erasure(repo: repo, path: path, hash: entry.hash) != nil {
                        guard let kept = try await store.metadata.remainder(repo: repo, path: path, hash: entry.hash)
                        else {
                            // Taken whole (it did not parse): like any version that does not parse, it judged
                            // nothing, so ownership stays as the version before had it.
                            throw RuleError(
                                file: name, field: "rules",
                                "was erased whole (it did not parse): this version judged nothing")
                        }
                        files.append((name, try RuleFileRemainder.decode(kept, path: path).customers))
                        continue
                    }
                    let data = try await store.blobs.get(entry.hash)
                    files.append((name, try RuleBookParser.parse(String(decoding: data, as: UTF8.self), file: name)))
                }
            }
            return files
        }
    }
}
