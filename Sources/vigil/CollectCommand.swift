import ArgumentParser
import VigilBackends
import VigilStore

struct CollectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Delete blobs no commit reaches. Safe while writers run: what they write is kept.")

    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions
    @Option(name: .long, help: "Keep unreachable blobs younger than this many seconds.") var grace: Double = 300
    @Flag(name: .long, help: "Report what would be deleted, delete nothing.") var dryRun = false

    func validate() throws {
        guard grace >= 0 else { throw ValidationError("--grace must be zero or more seconds") }
    }

    func run() async throws {
        try await store.withBackends { backends in
            let report = try await backends.store.collectGarbage(grace: grace, dryRun: dryRun)
            if output.json { return try Terminal.json(report) }
            print(
                "\(dryRun ? "would delete" : "deleted") \(report.deleted) blobs (\(Terminal.bytes(report.deletedBytes))); "
                    + "\(report.reachable) reachable, \(report.keptRecent) recent kept, "
                    + "\(report.abandonedWrites) abandoned writes removed")
        }
    }
}
