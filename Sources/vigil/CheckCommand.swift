import ArgumentParser
import VigilBackends
import VigilStore

struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fsck",
        abstract: "Verify every commit: all tree nodes and files present, and each hashing to its address.")

    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await store.withBackends { backends in
            let report = try await backends.store.check()
            if output.json {
                try Terminal.json(report)
            } else {
                print(
                    "checked \(report.commits) commits, \(report.nodes) tree nodes, \(report.files) files, "
                        + "\(Terminal.bytes(report.bytes))"
                        + (report.erased > 0 ? "; \(report.erased) blobs erased (gone on purpose)" : ""))
                for problem in report.problems { print("problem: \(problem)") }
                print(report.isClean ? "fsck: clean" : "fsck: \(report.problems.count) problems")
            }
            if !report.isClean { throw ExitCode(1) }
        }
    }
}
