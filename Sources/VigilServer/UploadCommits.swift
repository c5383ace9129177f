import Synchronization
import VigilStore

/// The server's group commit for each repo it takes uploads into (one per process, made on first use): uploads
/// that arrive together share a commit (`GroupCommit`).
public final class UploadCommits: Sendable {
    private let groups = Mutex<[String: GroupCommit]>([:])

    public init() {}

    func group(repo: String, store: VersionedStore) -> GroupCommit {
        groups.withLock { groups in
            if let group = groups[repo] { return group }
            let group = GroupCommit(store: store, repo: repo)
            groups[repo] = group
            return group
        }
    }
}
