import ArgumentParser
import VigilBackends
import VigilStore

struct DiffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Show the files that differ: a commit against its parent, or one address against another.",
        discussion: "Examples: vigil diff images@master   vigil diff images@master^3 images@master:/cam1")

    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "repo[@ref][:/path]") var from: String
    @Argument(help: "repo[@ref][:/path] (if omitted: FROM's commit against its parent)") var to: String?

    func run() async throws {
        try await store.withBackends { backends in
            let vigil = backends.store
            let old = try Address.parse(from)
            let changes =
                if let to {
                    try await vigil.diff(from: old, to: try Address.parse(to))
                } else {
                    try await vigil.diff(commit: old)
                }
            if output.json { return try Terminal.json(changes) }
            for change in changes {
                let mark =
                    switch change.change {
                    case .added: "+"
                    case .removed: "-"
                    case .modified: "M"
                    }
                print("\(mark) \(change.path)")
            }
        }
    }
}
