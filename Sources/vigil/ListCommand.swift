import ArgumentParser
import VigilBackends
import VigilStore

struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls", abstract: "List a directory (or show a file) at an address, e.g. images@master:/cam1.")

    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "repo[@ref][:/path]") var address: String

    func run() async throws {
        try await store.withBackends { backends in
            let entries = try await backends.store.list(try Address.parse(address))
            if output.json { return try Terminal.json(entries) }
            Terminal.table(
                ["NAME", "TYPE", "SIZE", "FILES"],
                entries.map {
                    [
                        $0.kind == .directory ? $0.name + "/" : $0.name, $0.kind == .directory ? "dir" : "file",
                        Terminal.bytes($0.size), "\($0.files)",
                    ]
                })
        }
    }
}
