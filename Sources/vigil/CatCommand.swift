import ArgumentParser
import Foundation
import VigilBackends
import VigilStore

struct CatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cat", abstract: "Write a file's bytes to standard output.")

    @OptionGroup var store: StoreOptions
    @Argument(help: "repo[@ref]:/path") var address: String

    func run() async throws {
        try await store.withBackends { backends in
            let data = try await backends.store.read(try Address.parse(address))
            FileHandle.standardOutput.write(data)
        }
    }
}
