import ArgumentParser
import Foundation
import VigilAccess
import VigilBackends
import VigilStages
import VigilStore

/// `vigil erase`: a camera's frames (or named files), and everything made from them, gone for good from every
/// branch and commit, with history left as it was and the erasure recorded beside it (docs/PRIVACY.md).
struct EraseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "erase",
        abstract: "Erase images for good: their bytes and everything made from them, from every commit.",
        discussion: """
            Selects frames by camera (--device) or by address (an image's address takes its frame in every repo: \
            the upload, the validated copy, the detection and threat records), optionally within a time range \
            (the time in the name). Records the erasure with --reason, takes the files out of every branch head, \
            and deletes their bytes from the blob store (a folder or S3), except bytes another, not erased file \
            also uses. Commits, trees and provenance stay as they were; reading an erased file fails with \
            `erased`, and `vigil fsck` counts it as erased. --dry-run lists what would go.
            """)

    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions
    @Option(name: .long, help: "Every frame of this camera (repeatable).") var device: [String] = []
    @Argument(help: "repo[@ref]:/path of an image (its frame everywhere) or of any other file or folder.")
    var addresses: [String] = []
    @Option(help: "Only frames taken at or after this time (unix seconds, or ISO 8601).") var after: String?
    @Option(help: "Only frames taken before this time (unix seconds, or ISO 8601).") var before: String?
    @Option(help: "Why: who asked, under which request (recorded with the erasure).") var reason: String
    @Flag(help: "List what would be erased, and change nothing.") var dryRun = false

    func validate() throws {
        guard !device.isEmpty || !addresses.isEmpty else {
            throw ValidationError("say what to erase: --device ID, or the address of an image, file or folder")
        }
        guard !reason.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw ValidationError("--reason must say who asked and why")
        }
    }

    func run() async throws {
        let selection = try makeSelection()
        try await store.withBackends { backends in
            let plan: ErasurePlan
            var report: ErasureReport?
            if dryRun {
                plan = try await backends.store.planErasure(selection)
            } else {
                let requester = (ProcessInfo.processInfo.environment["USER"] ?? "unknown") + " (vigil erase)"
                let done = try await backends.store.erase(selection, requester: requester, reason: reason)
                try await backends.access().record(
                    AuditEntry(
                        time: done.erasure.time, tokenID: "-", principal: requester, role: "cli",
                        action: "ERASE \(selection.description)", target: "erasure \(done.erasure.id)", status: 200,
                        detail: "\(done.plan.entries.count) files, \(done.blobsDeleted) blobs deleted: \(reason)"))
                plan = done.plan
                report = done
            }
            if output.json { return try Terminal.json(ErasureSummary(plan: plan, report: report)) }
            for entry in plan.entries.prefix(50) {
                print("\(dryRun ? "would erase" : "erased") \(entry.repo):\(entry.path)")
            }
            if plan.entries.count > 50 { print("… and \(plan.entries.count - 50) more") }
            print(
                (dryRun ? "would erase " : "erased ") + "\(plan.entries.count) files: \(plan.removed.count) blobs, "
                    + "\(Terminal.bytes(plan.removedBytes)); \(plan.kept.count) blobs kept for files not selected; "
                    + "\(plan.commits) commits walked"
                    + (report.map { "; erasure \($0.erasure.id), \($0.headCommits.count) head commits" } ?? ""))
        }
    }

    /// Frames of the devices and images named, and other files or folders by address, within the time range.
    private func makeSelection() throws -> ErasureSelection {
        try FrameSelection(
            devices: device, addresses: addresses,
            after: try after.map { try FrameSelection.seconds($0, field: "--after") },
            before: try before.map { try FrameSelection.seconds($0, field: "--before") }
        ).erasureSelection()
    }
}
