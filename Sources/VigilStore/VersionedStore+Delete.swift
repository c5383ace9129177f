import Foundation

extension VersionedStore {
    /// Removes files and folders from a branch in one new commit, as `pachctl delete file` does: the branch's
    /// head no longer has them, every earlier commit still does (reading, provenance and fsck are unchanged), and
    /// pipelines reading the branch remove what those files produced at their next job. Every path must exist;
    /// `/` is refused (delete the repo instead), and so is a commit, which never changes.
    @discardableResult
    public func delete(
        _ paths: [String], from repo: String, branch: String? = nil, author: String = "vigil", message: String? = nil
    ) async throws -> CommitInfo {
        guard !paths.isEmpty else {
            throw VigilError(.badArgument, "name at least one file or folder to delete", value: repo)
        }
        for path in paths where try StorePath.components(path).isEmpty {
            throw VigilError(
                .badPath,
                "deleting '/' would empty the branch; name its files or folders, or delete the repo "
                    + "(`vigil repo delete \(repo)`)", value: path)
        }
        let branch = branch ?? defaultBranch
        if try await metadata.branch(branch, in: repo) == nil, (try? await resolveCommit(repo, ref: branch)) != nil {
            throw VigilError(
                .badArgument,
                "'\(branch)' is a commit of \(repo), and commits never change: delete from a branch "
                    + "(\(repo)@\(defaultBranch):PATH)", value: branch)
        }
        let writer = try await openCommit(repo: repo, branch: branch, author: author)
        do {
            for path in paths { try await writer.delete(path) }
            return try await writer.finish(message: message ?? "delete " + paths.joined(separator: ", "))
        } catch {
            await writer.abandon()
            throw error
        }
    }
}
