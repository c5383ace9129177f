import ArgumentParser
import Foundation
import VigilStore

struct PutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "put",
        abstract: "Put local files and folders into a repo as one commit.",
        discussion: """
            A folder's contents go under the destination path, recursively; a file keeps its name. \
            Bytes already in the store are not stored again.
            Example: vigil put images@master:/ ./photos cam1-1700000000.jpg
            """)

    @OptionGroup var store: StoreOptions
    @Argument(help: "Where to put them: repo[@branch][:/path].") var destination: String
    @Argument(help: "Local files and folders.") var paths: [String]
    @Option(name: [.short, .long], help: "Commit message.") var message: String?
    @Option(name: .long, help: "Commit author.") var author = ProcessInfo.processInfo.environment["USER"] ?? "vigil"
    @Option(name: .long, help: "Files written in parallel.") var concurrency = 8

    func validate() throws {
        guard !paths.isEmpty else { throw ValidationError("name at least one local file or folder to put") }
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
    }

    func run() async throws {
        let address = try Address.parse(destination)
        let files = try LocalFiles.collect(paths, under: address.path)
        let vigil = try await store.openStore()
        let writer = try await vigil.openCommit(repo: address.repo, branch: address.ref, author: author)
        var progress = ProgressBar(label: "put", total: files.count)
        var stored = 0
        do {
            try await withThrowingTaskGroup(of: BlobWrite.self) { group in
                var inFlight = 0
                for file in files {
                    if inFlight >= concurrency, let written = try await group.next() {
                        inFlight -= 1
                        progress.advance(bytes: written.size)
                        if written.stored { stored += 1 }
                    }
                    group.addTask { try await writer.put(file.destination, contentsOf: file.source) }
                    inFlight += 1
                }
                for try await written in group {
                    progress.advance(bytes: written.size)
                    if written.stored { stored += 1 }
                }
            }
        } catch {
            progress.finish()
            await writer.abandon()
            throw error
        }
        progress.finish()
        let commit = try await writer.finish(message: message ?? "put \(files.count) files")
        print(
            "committed \(commit.id) to \(address.repo)@\(commit.branch): \(files.count) files put (\(stored) new), "
                + "\(commit.tree.files) files, \(Terminal.bytes(commit.tree.size)) in all")
    }
}
