import ArgumentParser
import Foundation
import VigilBackends
import VigilStore

struct RepoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repo", abstract: "Create, list, inspect and delete repos.",
        subcommands: [Create.self, List.self, Inspect.self, Delete.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a repo with an empty default branch.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "Repo name: letters, digits, '_' or '-'.") var name: String
        @Option(name: .long, help: "What the repo holds.") var description = ""

        func run() async throws {
            try await store.withBackends { backends in
                let repo = try await backends.store.createRepo(name, description: description)
                print("created repo \(repo.name)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List repos with their size on the default branch.")
        @OptionGroup var store: StoreOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await store.withBackends { backends in
                let vigil = backends.store
                var summaries: [RepoSummary] = []
                for repo in try await vigil.repos() { summaries.append(try await RepoSummary.load(repo, from: vigil)) }
                if output.json { return try Terminal.json(summaries) }
                Terminal.table(
                    ["NAME", "CREATED", "FILES", "SIZE", "DESCRIPTION"],
                    summaries.map {
                        [$0.name, Terminal.date($0.created), "\($0.files)", Terminal.bytes($0.size), $0.description]
                    })
            }
        }
    }

    struct Inspect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a repo's branches, head and totals.")
        @OptionGroup var store: StoreOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "Repo name.") var name: String

        func run() async throws {
            try await store.withBackends { backends in
                let vigil = backends.store
                let summary = try await RepoSummary.load(try await vigil.repo(name), from: vigil)
                if output.json { return try Terminal.json(summary) }
                print("Name:        \(summary.name)")
                print("Description: \(summary.description)")
                print("Created:     \(Terminal.date(summary.created))")
                print("Files:       \(summary.files) on \(vigil.defaultBranch)")
                print("Size:        \(Terminal.bytes(summary.size)) on \(vigil.defaultBranch)")
                print("Branches:")
                for branch in summary.branches { print("  \(branch.name)  \(branch.head ?? "(no commits)")") }
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a repo and its commits; `vigil gc` then frees the bytes nothing else uses.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "Repo name.") var name: String

        func run() async throws {
            try await store.withBackends { backends in
                try await backends.store.deleteRepo(name)
                print("deleted repo \(name)")
            }
        }
    }
}

/// A repo as `repo list` and `repo inspect` show it.
struct RepoSummary: Codable {
    var name: String
    var description: String
    var created: Date
    var branches: [BranchInfo]
    var files: Int64
    var size: Int64

    static func load(_ repo: RepoInfo, from vigil: VersionedStore) async throws -> RepoSummary {
        let head = try await vigil.resolveCommit(repo.name, ref: nil)
        return RepoSummary(
            name: repo.name, description: repo.description, created: repo.created,
            branches: try await vigil.branches(of: repo.name), files: head?.tree.files ?? 0, size: head?.tree.size ?? 0)
    }
}
