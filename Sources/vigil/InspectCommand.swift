import ArgumentParser
import VigilBackends
import VigilStore

struct InspectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a commit (with provenance and subvenance) or, with a path, a file or directory.")

    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions
    @Argument(help: "repo[@ref][:/path]") var address: String
    @Flag(name: .long, help: "Follow provenance and subvenance all the way.") var transitive = false

    struct CommitView: Encodable {
        var commit: CommitInfo
        var provenance: [CommitReference]
        var subvenance: [CommitReference]
    }

    func run() async throws {
        try await store.withBackends { backends in
            let vigil = backends.store
            let parsed = try Address.parse(address)
            if parsed.path != "/" {
                let (commit, entry) = try await vigil.entry(at: parsed)
                if output.json { return try Terminal.json(entry) }
                print("Path:    \(parsed.path)")
                print("Commit:  \(commit?.id ?? "-")")
                print("Type:    \(entry.kind == .file ? "file" : "directory")")
                print("Hash:    \(entry.hash.hex)")
                print("Size:    \(Terminal.bytes(entry.size)) (\(entry.size) bytes)")
                if entry.kind == .directory { print("Files:   \(entry.files)") }
                return
            }
            guard let commit = try await vigil.resolveCommit(parsed.repo, ref: parsed.ref) else {
                throw VigilError(.commitNotFound, "'\(address)' has no commits yet", value: address)
            }
            let view = CommitView(
                commit: commit,
                provenance: try await vigil.provenance(of: commit.reference, transitive: transitive),
                subvenance: try await vigil.subvenance(of: commit.reference, transitive: transitive))
            if output.json { return try Terminal.json(view) }
            print("Commit:     \(commit.id)")
            print("Repo:       \(commit.repo)@\(commit.branch)")
            print("Parent:     \(commit.parent ?? "-")")
            print("Author:     \(commit.author)")
            print("Started:    \(Terminal.date(commit.started))")
            print("Finished:   \(Terminal.date(commit.finished))")
            print("Tree:       \(commit.tree.hash.hex)")
            print("Files:      \(commit.tree.files), \(Terminal.bytes(commit.tree.size))")
            print("Message:    \(commit.message)")
            print("Origin:     \(commit.provenance.origin ?? "-")")
            print(
                "Provenance: \(view.provenance.isEmpty ? "-" : view.provenance.map(\.description).joined(separator: ", "))"
            )
            print(
                "Subvenance: \(view.subvenance.isEmpty ? "-" : view.subvenance.map(\.description).joined(separator: ", "))"
            )
        }
    }
}
