import ArgumentParser
import Foundation
import Logging
import VigilStore

/// Options every command that touches data shares: where the data folder is, and how chatty to be.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: "The data folder (default: $VIGIL_HOME, or ./.vigil).")
    var home: String?

    @Flag(name: .long, help: "Log what happens, to standard error.")
    var verbose = false

    var homeURL: URL {
        let path = home ?? ProcessInfo.processInfo.environment["VIGIL_HOME"] ?? ".vigil"
        return URL(fileURLWithPath: path, isDirectory: true).standardizedFileURL
    }

    var logger: Logger {
        var logger = Logger(label: "vigil") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = verbose ? .debug : .warning
        return logger
    }

    /// The data folder, which must have been made by `vigil init`.
    func existingHome() throws -> URL {
        try VersionedStore.requireInitialized(home: homeURL)
        return homeURL
    }

    func openStore(create: Bool = false) async throws -> VersionedStore {
        try await VersionedStore.open(home: homeURL, create: create, logger: logger)
    }
}

/// `--json` for commands whose output scripts read.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print JSON instead of a table.")
    var json = false
}
