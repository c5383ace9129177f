import Foundation

/// What `fsck` found.
public struct CheckReport: Sendable, Codable {
    public struct Problem: Sendable, Codable, Hashable, CustomStringConvertible {
        public enum Kind: String, Sendable, Codable {
            case missingBlob = "missing-blob"
            case corruptBlob = "corrupt-blob"
            case corruptNode = "corrupt-node"
            case missingCommit = "missing-commit"
            case wrongTotals = "wrong-totals"
        }

        public var kind: Kind
        /// The hash or commit id at fault.
        public var subject: String
        /// A commit that reaches it, and the path there, when known.
        public var commit: String?
        public var path: String?

        public var description: String {
            var text = "\(kind.rawValue) \(subject)"
            if let commit { text += " (commit \(commit)" + (path.map { " path \($0)" } ?? "") + ")" }
            return text
        }
    }

    public var commits = 0
    public var nodes = 0
    public var files = 0
    public var bytes: Int64 = 0
    /// Blobs an erasure took (`vigil erase`): missing on purpose, so not problems.
    public var erased = 0
    public var problems: [Problem] = []

    public var isClean: Bool { problems.isEmpty }
}

extension VersionedStore {
    /// Verifies every commit: its parent and branch heads exist, every tree node and file blob it reaches is
    /// present and hashes to its address, and recorded totals match. Each blob is read once, however many
    /// commits share it. `progress` is called with the number of blobs checked so far.
    public func check(progress: (@Sendable (Int) -> Void)? = nil) async throws -> CheckReport {
        var report = CheckReport()
        var checkedNodes: [BlobHash: (size: Int64, files: Int64)?] = [:]
        var checkedFiles: Set<BlobHash> = []

        func verify(_ hash: BlobHash, commit: String, path: String, isNode: Bool) async throws -> Data? {
            let read: Data?
            do {
                read = try await blobs.get(hash)
            } catch let error as VigilError where error.code == .blobNotFound {
                if !isNode, try await metadata.isErased(hash) {
                    report.erased += 1
                    return nil
                }
                report.problems.append(.init(kind: .missingBlob, subject: hash.hex, commit: commit, path: path))
                return nil
            } catch let error as VigilError where error.code == .corruptData {
                read = nil
            }
            // Every store checks its reads against the address; fsck checks again rather than rely on it.
            guard let data = read, BlobHash(of: data) == hash else {
                report.problems.append(
                    .init(kind: isNode ? .corruptNode : .corruptBlob, subject: hash.hex, commit: commit, path: path))
                return nil
            }
            report.bytes += Int64(data.count)
            progress?(report.nodes + report.files)
            return data
        }

        /// Checks a node and everything below it once; returns its totals, or nil if it is unusable.
        func checkNode(_ hash: BlobHash, commit: String, path: String) async throws -> (size: Int64, files: Int64)? {
            if let known = checkedNodes[hash] { return known }
            report.nodes += 1
            guard let data = try await verify(hash, commit: commit, path: path, isNode: true) else {
                checkedNodes[hash] = .some(nil)
                return nil
            }
            let node: TreeNode
            do {
                node = try TreeNodeCodec.decode(data, hash: hash)
            } catch {
                report.problems.append(.init(kind: .corruptNode, subject: hash.hex, commit: commit, path: path))
                checkedNodes[hash] = .some(nil)
                return nil
            }
            switch node {
            case .flat(let entries):
                for entry in entries {
                    let child = StorePath.join(path, entry.name)
                    if entry.kind == .file {
                        if checkedFiles.insert(entry.hash).inserted {
                            report.files += 1
                            if let data = try await verify(entry.hash, commit: commit, path: child, isNode: false),
                                Int64(data.count) != entry.size
                            {
                                report.problems.append(
                                    .init(kind: .wrongTotals, subject: entry.hash.hex, commit: commit, path: child))
                            }
                        }
                    } else if let totals = try await checkNode(entry.hash, commit: commit, path: child),
                        totals != (entry.size, entry.files)
                    {
                        report.problems.append(
                            .init(kind: .wrongTotals, subject: entry.hash.hex, commit: commit, path: child))
                    }
                }
            case .sharded(_, _, let refs):
                for ref in refs {
                    if let totals = try await checkNode(ref.hash, commit: commit, path: path),
                        totals != (ref.size, ref.files)
                    {
                        report.problems.append(
                            .init(kind: .wrongTotals, subject: ref.hash.hex, commit: commit, path: path))
                    }
                }
            }
            let totals = node.totals
            checkedNodes[hash] = totals
            return totals
        }

        let commits = try await metadata.allCommits(in: nil)
        let ids = Set(commits.map(\.id))
        for commit in commits {
            report.commits += 1
            if let parent = commit.parent, !ids.contains(parent) {
                report.problems.append(.init(kind: .missingCommit, subject: parent, commit: commit.id))
            }
            for (root, path) in [(commit.tree, "/")] + (commit.meta.map { [($0, "(meta)")] } ?? []) {
                if let totals = try await checkNode(root.hash, commit: commit.id, path: path),
                    totals != (root.size, root.files)
                {
                    report.problems.append(.init(kind: .wrongTotals, subject: root.hash.hex, commit: commit.id))
                }
            }
        }
        for repo in try await metadata.repos() {
            for branch in try await metadata.branches(in: repo.name) {
                if let head = branch.head, !ids.contains(head) {
                    report.problems.append(
                        .init(kind: .missingCommit, subject: head, commit: nil, path: "\(repo.name)@\(branch.name)"))
                }
            }
        }
        return report
    }
}
