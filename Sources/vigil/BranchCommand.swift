import ArgumentParser
import VigilBackends
import VigilStore

struct BranchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "branch", abstract: "Create, list and delete branches.",
        subcommands: [Create.self, List.self, Delete.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a branch, empty or at a ref.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "Repo name.") var repo: String
        @Argument(help: "Branch name.") var name: String
        @Option(name: .long, help: "Start at this branch or commit (e.g. master^1).") var head: String?

        func run() async throws {
            try await store.withBackends { backends in
                let branch = try await backends.store.createBranch(name, in: repo, at: head)
                print("created branch \(repo)@\(branch.name) at \(branch.head ?? "(no commits)")")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a repo's branches and their heads.")
        @OptionGroup var store: StoreOptions
        @OptionGroup var output: OutputOptions
        @Argument(help: "Repo name.") var repo: String

        func run() async throws {
            try await store.withBackends { backends in
                let branches = try await backends.store.branches(of: repo)
                if output.json { return try Terminal.json(branches) }
                Terminal.table(["BRANCH", "HEAD"], branches.map { [$0.name, $0.head ?? "-"] })
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a branch (its commits stay).")
        @OptionGroup var store: StoreOptions
        @Argument(help: "Repo name.") var repo: String
        @Argument(help: "Branch name.") var name: String

        func run() async throws {
            try await store.withBackends { backends in
                try await backends.store.deleteBranch(name, in: repo)
                print("deleted branch \(repo)@\(name)")
            }
        }
    }
}
