import ArgumentParser
import VigilBackends
import VigilStore

struct CopyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy",
        abstract: "Copy a file, folder or whole commit to a branch of any repo, storing no bytes.",
        discussion: "Example: vigil copy images@master:/cam1 archive@master:/2026/cam1")

    @OptionGroup var store: StoreOptions
    @Argument(help: "repo[@ref][:/path]") var source: String
    @Argument(help: "repo[@branch][:/path]") var destination: String
    @Option(name: [.short, .long], help: "Commit message.") var message: String?

    func run() async throws {
        try await store.withBackends { backends in
            let commit = try await backends.store.copy(
                from: try Address.parse(source), to: try Address.parse(destination), message: message)
            print("committed \(commit.id) to \(commit.repo)@\(commit.branch): \(commit.tree.files) files")
        }
    }
}
