import ArgumentParser
import VigilBackends
import VigilStore

/// `vigil rm`: files and folders out of a branch, like `pachctl delete file`.
struct RmCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Delete files and folders from a branch, in one new commit per branch; history keeps them.",
        discussion: """
            Example: vigil rm images@master:/cam1-1700000000.jpg images@master:/cam7. Earlier commits still hold \
            the files and their bytes: this removes them from the branch, it does not erase them. Pipelines \
            reading the branch remove what those files produced at their next job. Every path must exist.
            """)

    @OptionGroup var store: StoreOptions
    @Argument(help: "repo[@branch]:/path, one or more.") var addresses: [String]
    @Option(name: [.short, .long], help: "Commit message.") var message: String?

    func validate() throws {
        guard !addresses.isEmpty else { throw ValidationError("name at least one repo@branch:/path to delete") }
    }

    func run() async throws {
        let parsed = try addresses.map { try Address.parse($0) }
        try await store.withBackends { backends in
            var byBranch: [String: (repo: String, branch: String, paths: [String])] = [:]
            var order: [String] = []
            for address in parsed {
                let branch = address.ref ?? backends.store.defaultBranch
                let key = "\(address.repo)@\(branch)"
                if byBranch[key] == nil { order.append(key) }
                byBranch[key, default: (address.repo, branch, [])].paths.append(address.path)
            }
            for key in order {
                guard let group = byBranch[key] else { continue }
                let commit = try await backends.store.delete(
                    group.paths, from: group.repo, branch: group.branch, message: message)
                print(
                    "committed \(commit.id) to \(commit.repo)@\(commit.branch): deleted \(group.paths.count) "
                        + "path\(group.paths.count == 1 ? "" : "s"), \(commit.tree.files) files left")
            }
        }
    }
}
