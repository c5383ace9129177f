import ArgumentParser
import Foundation
import VigilAccess
import VigilBackends
import VigilServer
import VigilStages
import VigilStore

/// `vigil erase`: a camera's frames (or named files), and everything made from them, gone for good from every
/// branch and commit, with history left as it was and the erasure recorded beside it (docs/PRIVACY.md).
struct EraseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "erase",
        abstract: "Erase images for good: their bytes and everything made from them, from every commit.",
        discussion: """
            Selects frames by camera (--device), by customer (--customer: the frames of the cameras it owned, \
            from the times it owned them, by the rules' history; its alerts are forgotten too) or by address \
            (an image's address takes its frame in every repo: the upload, the validated copy, the detection and \
            threat records), optionally within a time range (the time in the name). Records the erasure with --reason, takes the files out of every branch head, \
            and deletes their bytes from the blob store (a folder or S3), except bytes another, not erased file \
            also uses. Commits, trees and provenance stay as they were; reading an erased file fails with \
            `erased`, and `vigil fsck` counts it as erased. A selection that takes a frame under a legal hold \
            (`vigil hold`) is refused with `held`. --dry-run lists what would go.
            """)

    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions
    @Option(name: .long, help: "Every frame of this camera (repeatable).") var device: [String] = []
    @Option(
        name: .long,
        help:
            "Every frame of the cameras this customer owned, from the times it owned them, and its alerts (repeatable)."
    )
    var customer: [String] = []
    @Argument(help: "repo[@ref]:/path of an image (its frame everywhere) or of any other file or folder.")
    var addresses: [String] = []
    @Option(help: "Only frames taken at or after this time (unix seconds, or ISO 8601).") var after: String?
    @Option(help: "Only frames taken before this time (unix seconds, or ISO 8601).") var before: String?
    @Option(help: "Why: who asked, under which request (recorded with the erasure).") var reason: String
    @Flag(help: "List what would be erased, and change nothing.") var dryRun = false

    func validate() throws {
        guard !device.isEmpty || !customer.isEmpty || !addresses.isEmpty else {
            throw ValidationError(
                "say what to erase: --device ID, --customer ID, or the address of an image, file or folder")
        }
        guard !reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw ValidationError("--reason must say who asked and why")
        }
    }

    func run() async throws {
        let frames = FrameSelection(
            devices: device, customers: customer, addresses: addresses,
            after: try after.map { try FrameSelection.seconds($0, field: "--after") },
            before: try before.map { try FrameSelection.seconds($0, field: "--before") })
        try await store.withBackends { backends in
            let requester = Terminal.requester("vigil erase")
            let (summary, report) = try await ErasureRequest(
                frames: frames, reason: reason, requester: requester, dryRun: dryRun
            ).run(store: backends.store, alerts: try backends.alerts(), configuration: ServerConfiguration())
            if let report {
                try await backends.access().record(
                    AuditEntry(
                        time: report.erasure.time, tokenID: "-", principal: requester, role: "cli",
                        action: "ERASE \(frames.description)", target: "erasure \(report.erasure.id)", status: 200,
                        detail: "\(summary.files) files, \(report.blobsDeleted) blobs deleted, "
                            + "\(summary.alertsForgotten) alerts forgotten: \(reason)"))
            }
            if output.json { return try Terminal.json(summary) }
            for entry in summary.entries.prefix(50) {
                print("\(dryRun ? "would erase" : "erased") \(entry.repo):\(entry.path)")
            }
            if summary.entries.count > 50 { print("… and \(summary.entries.count - 50) more") }
            print(
                (dryRun ? "would erase " : "erased ") + "\(summary.files) files: \(summary.blobs) blobs, "
                    + "\(Terminal.bytes(summary.bytes)); \(summary.keptForOtherFiles) blobs kept for files not selected; "
                    + "\(summary.commitsWalked) commits walked"
                    + (customer.isEmpty
                        ? "" : "; \(summary.alertsForgotten) alerts \(dryRun ? "to forget" : "forgotten")")
                    + (report.map { "; erasure \($0.erasure.id), \($0.headCommits.count) head commits" } ?? ""))
            for note in summary.notes { Terminal.standardError("note: \(note)") }
        }
    }
}
