import ArgumentParser
import Foundation
import Logging
import VigilBackends
import VigilStages
import VigilStore

/// Erasing one camera's frames out of a large repo with history: the repo gets `files` frames from `devices`
/// cameras over `commits` commits, each commit a slice of time in which every camera sends (so each commit's
/// new names fall all over the sorted folder, as real uploads do). The erased camera's frames are distinct
/// blobs; the others share a pool (their bytes do not matter to the walk). Prints the time to plan and to
/// erase, the tree nodes walked, and the metadata written anew (new tree-node bytes against the repo's).
struct ErasureBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "erase", abstract: "Time erasing one camera's frames from a repo with history.")

    @Option(help: "Data folder to create (must not exist).") var home: String
    @Option(help: "Frames in the repo at the end.") var files = 100_000
    @Option(help: "Commits they arrive in.") var commits = 100
    @Option(help: "Cameras sending them (the erased one is 1 of them).") var devices = 100
    @Option(help: "Plans made each way (commits diffed one at a time, and side by side), alternating.")
    var planRuns = 2

    func run() async throws {
        let root = URL(fileURLWithPath: home)
        let steal = StealMeter()
        try await withBenchmarkHome(home, stages: .builtIn) { store, _ in
            var pool: [BlobWrite] = []
            for index in 0..<1_000 { pool.append(try await store.blobs.put(Data("shared frame \(index)".utf8))) }
            try await store.createRepo("images")
            let perCommit = files / commits
            let buildStart = ContinuousClock.now
            var made = 0
            for commit in 0..<commits {
                let writer = try await store.openCommit(repo: "images")
                for slot in 0..<perCommit {
                    let device = slot % devices
                    let name = "/cam\(device)-\(1_700_000_000 + made).jpg"
                    if device == 0 {
                        try await writer.put(name, data: Data("cam0's own frame \(made)".utf8))
                    } else {
                        let blob = pool[made % pool.count]
                        try await writer.set(name, to: .file(blob.hash, size: blob.size))
                    }
                    made += 1
                }
                try await writer.finish(message: "commit \(commit)")
                if commit % 10 == 9 { FileHandle.standardError.write(Data("built \(commit + 1) commits\n".utf8)) }
            }
            let build = ContinuousClock.now - buildStart
            let before = try Self.blobFiles(root)

            let selection = try FrameSelection(devices: ["cam0"]).erasureSelection()
            // The same plan made with commits diffed one at a time (the baseline) and side by side, in turn.
            var oneAtATime: [Duration] = []
            var sideBySide: [Duration] = []
            var reference: ErasurePlan?
            for run in 0..<max(1, planRuns) {
                for width in [1, nil] as [Int?] {
                    let start = ContinuousClock.now
                    let plan = try await store.planErasure(selection, width: width)
                    let time = ContinuousClock.now - start
                    if width == 1 { oneAtATime.append(time) } else { sideBySide.append(time) }
                    if let reference, reference.entries != plan.entries || reference.removed != plan.removed {
                        throw ValidationError("plans made two ways differ")
                    }
                    reference = plan
                    FileHandle.standardError.write(
                        Data(
                            "plan \(run + 1), width \(width ?? ProcessInfo.processInfo.activeProcessorCount): \(time)\n"
                                .utf8))
                }
            }
            guard let plan = reference else { return }
            let planTime = median(sideBySide)
            let baselineTime = median(oneAtATime)
            let eraseStart = ContinuousClock.now
            // As `vigil erase` runs it: the plan made once, then carried out.
            let report = try await store.erase(
                planned: plan, selection: selection.description, requester: "vigil-bench", reason: "benchmark")
            let eraseTime = ContinuousClock.now - eraseStart
            let after = try Self.blobFiles(root)
            let written = after.filter { before[$0.key] == nil }
            let writtenBytes = written.values.reduce(0, +)
            let storedBytes = before.values.reduce(0, +)
            print(
                String(
                    format: """
                        %d frames from %d cameras in %d commits (built in %.1f s); erasing cam0's %d frames:
                          plan %.2f s (%d commits, %d file entries read; median of %d, commits diffed side by side;
                            one at a time: %.2f s, ×%.2f), then erase %.2f s (%.2f s in all), %d blobs deleted
                          written anew: %d blobs, %.1f KB, against %.1f MB in the blob store before (%.3f %%); steal %.1f %%
                        """, made, devices, commits, build.inSeconds, plan.entries.count, planTime.inSeconds,
                    plan.commits, plan.files, sideBySide.count, baselineTime.inSeconds,
                    baselineTime.inSeconds / max(1e-9, planTime.inSeconds), eraseTime.inSeconds,
                    (planTime + eraseTime).inSeconds, report.blobsDeleted,
                    written.count,
                    Double(writtenBytes) / 1e3, Double(storedBytes) / 1e6,
                    100 * Double(writtenBytes) / Double(max(1, storedBytes)), steal.percent ?? 0))
        }
    }

    /// Every file under the blob folder: its path and size.
    static func blobFiles(_ home: URL) throws -> [String: Int64] {
        var files: [String: Int64] = [:]
        let folder = home.appendingPathComponent("blobs")
        let walk = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: [.fileSizeKey])
        while let file = walk?.nextObject() as? URL {
            guard let size = try file.resourceValues(forKeys: [.fileSizeKey]).fileSize else { continue }
            files[file.path] = Int64(size)
        }
        return files
    }

    private func median(_ times: [Duration]) -> Duration {
        let sorted = times.sorted()
        return sorted.count % 2 == 1
            ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }
}
