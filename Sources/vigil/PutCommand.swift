import ArgumentParser
import Foundation
import VigilBackends
import VigilStore

struct PutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "put",
        abstract: "Put local files and folders, or the objects of an S3 bucket, into a repo as one commit.",
        discussion: """
            A folder's contents go under the destination path, recursively; a file keeps its name. \
            Bytes already in the store are not stored again.
            s3://bucket/prefix/ copies every object under the prefix to its relative path (using the store's \
            --s3-endpoint, region and credentials), skipping objects whose content is already at that path.
            Example: vigil put images@master:/ ./photos cam1-1700000000.jpg
            Example: vigil put images s3://camera-uploads/site-a/
            """)

    @OptionGroup var store: StoreOptions
    @Argument(help: "Where to put them: repo[@branch][:/path].") var destination: String
    @Argument(help: "Local files and folders, or s3://bucket/prefix/ locations.") var paths: [String]
    @Option(name: [.short, .long], help: "Commit message.") var message: String?
    @Option(name: .long, help: "Commit author.") var author = ProcessInfo.processInfo.environment["USER"] ?? "vigil"
    @Option(name: .long, help: "Files written in parallel.") var concurrency = 8

    func validate() throws {
        guard !paths.isEmpty else { throw ValidationError("name at least one local file or folder to put") }
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
    }

    /// One thing to put, and what became of it.
    private enum Item: Sendable {
        case file(LocalFiles)
        case object(BucketIngest, BucketIngest.Object)

        var ingest: BucketIngest? {
            if case .object(let ingest, _) = self { return ingest }
            return nil
        }
    }

    private struct Outcome: Sendable {
        var bytes: Int64
        var stored = false
        var skipped = false
        var ledger: (key: String, entry: IngestLedgerEntry)?
    }

    func run() async throws {
        try await store.withBackends { backends in
            let address = try Address.parse(destination)
            let files = try LocalFiles.collect(paths.filter { !$0.hasPrefix("s3://") }, under: address.path)
            let vigil = backends.store
            var items = files.map(Item.file)
            for location in paths where location.hasPrefix("s3://") {
                let ingest = try await BucketIngest.list(location, under: address.path, options: store)
                items += ingest.objects.map { Item.object(ingest, $0) }
            }
            let writer = try await vigil.openCommit(repo: address.repo, branch: address.ref, author: author)
            let branch = writer.branch
            // The ledger is opened only for a put from a bucket (a local put leaves no ledger behind).
            let buckets = Set(items.compactMap(\.ingest).map(\.ledgerPrefix))
            let ledgerStore = buckets.isEmpty ? nil : try backends.ingestLedger()
            var known: [String: IngestLedgerEntry] = [:]
            for location in buckets {
                known.merge(try await ledgerStore?.entries(under: location) ?? [:]) { first, _ in first }
            }
            let ledger = known
            var fetched: [String: IngestLedgerEntry] = [:]
            var progress = ProgressBar(label: "put", total: items.count)
            var stored = 0
            var skipped = 0
            do {
                try await withThrowingTaskGroup(of: Outcome.self) { group in
                    var inFlight = 0
                    func record(_ outcome: Outcome) {
                        progress.advance(bytes: outcome.bytes)
                        if outcome.stored { stored += 1 }
                        if outcome.skipped { skipped += 1 }
                        if let entry = outcome.ledger { fetched[entry.key] = entry.entry }
                    }
                    for item in items {
                        if inFlight >= concurrency, let outcome = try await group.next() {
                            inFlight -= 1
                            record(outcome)
                        }
                        group.addTask {
                            switch item {
                            case .file(let file):
                                let written = try await writer.put(file.destination, contentsOf: file.source)
                                return Outcome(bytes: written.size, stored: written.stored)
                            case .object(let ingest, let object):
                                return try await Self.copy(
                                    object, from: ingest, into: writer, vigil: vigil, repo: address.repo,
                                    branch: branch,
                                    known: ledger[ingest.ledgerKey(object)])
                            }
                        }
                        inFlight += 1
                    }
                    for try await outcome in group { record(outcome) }
                }
            } catch {
                progress.finish()
                await writer.abandon()
                throw error
            }
            progress.finish()
            let put = items.count - skipped
            if put == 0, !items.isEmpty {
                await writer.abandon()
                print("nothing to put: all \(items.count) objects are already in \(address.repo)@\(branch)")
                try await ledgerStore?.record(fetched)
                return
            }
            let commit = try await writer.finish(message: message ?? "put \(put) files")
            try await ledgerStore?.record(fetched)
            let skippedNote = skipped > 0 ? ", \(skipped) skipped (already there)" : ""
            print(
                "committed \(commit.id) to \(address.repo)@\(commit.branch): \(put) files put (\(stored) new)\(skippedNote), "
                    + "\(commit.tree.files) files, \(Terminal.bytes(commit.tree.size)) in all")
        }
    }

    /// Copies one object unless the destination already holds its bytes (see `BucketIngest`).
    private static func copy(
        _ object: BucketIngest.Object, from ingest: BucketIngest, into writer: CommitWriter, vigil: VersionedStore,
        repo: String, branch: String, known: IngestLedgerEntry?
    ) async throws -> Outcome {
        let existing = try? await vigil.entry(at: Address(repo: repo, ref: branch, path: object.destination)).entry
        let present = existing?.kind == .file ? existing?.hash : nil
        if let known, known.etag == object.info.etag, known.size == object.info.size, known.hash == present {
            return Outcome(bytes: object.info.size, skipped: true)
        }
        let data = try await ingest.fetch(object)
        let hash = BlobHash(of: data)
        let entry = IngestLedgerEntry(etag: object.info.etag, size: Int64(data.count), hash: hash)
        if hash == present {
            return Outcome(bytes: Int64(data.count), skipped: true, ledger: (ingest.ledgerKey(object), entry))
        }
        let written = try await writer.put(object.destination, data: data)
        return Outcome(bytes: written.size, stored: written.stored, ledger: (ingest.ledgerKey(object), entry))
    }
}
