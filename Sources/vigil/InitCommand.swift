import ArgumentParser
import VigilStore

struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init", abstract: "Create the data folder (blobs and metadata). Safe to run again.")

    @OptionGroup var store: StoreOptions

    func run() async throws {
        _ = try await store.openStore(create: true)
        print("Vigil data folder ready at \(store.homeURL.path)")
    }
}
