import ArgumentParser
import VigilBackends
import VigilStore

struct LogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log", abstract: "List the commits of a branch, newest first.")

    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "repo[@ref]") var address: String
    @Option(name: [.short, .long], help: "At most this many commits.") var limit = 50

    func run() async throws {
        try await store.withBackends { backends in
            let parsed = try Address.parse(address)
            let commits = try await backends.store.log(parsed.repo, ref: parsed.ref, limit: limit)
            if output.json { return try Terminal.json(commits) }
            Terminal.table(
                ["COMMIT", "FINISHED", "AUTHOR", "FILES", "SIZE", "MESSAGE"],
                commits.map {
                    [
                        $0.id, Terminal.date($0.finished), $0.author, "\($0.tree.files)", Terminal.bytes($0.tree.size),
                        $0.message,
                    ]
                })
        }
    }
}
