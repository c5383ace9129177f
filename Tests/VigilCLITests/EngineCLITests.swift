import Foundation
import Testing
import VigilStore

@testable import VigilPipeline

#if canImport(Glibc)
    import Glibc
#endif

extension ProcessTests {
    @Suite("vigil engine as a process", .serialized)
    struct EngineCLITests {
        struct ListEntry: Decodable {
            var name: String
        }

        /// A data folder under `root` whose images repo holds `frames` small frames.
        static func dataFolder(in root: URL, frames count: Int, tag: String) async throws -> VigilProcess {
            let vigil = VigilProcess(home: root.appendingPathComponent("home"))
            try await vigil.run(["init"])
            try await vigil.run(["repo", "create", "images"])
            let frames = root.appendingPathComponent("frames")
            try makeFrames(in: frames, count: count, tag: tag, size: 256)
            #expect(try await vigil.run(["put", "images", frames.path]).status == 0)
            return vigil
        }

        @Test func nothingVigilWritesInItsDataFolderIsOpenToOtherUsers() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let vigil = try await Self.dataFolder(in: root, frames: 3, tag: "m")
            // An external command: as root it runs as the sandbox user, who cannot enter a private data folder.
            let spec = root.appendingPathComponent("copy.yaml")
            try Data(
                """
                name: copies
                input: {pfs: {repo: images, glob: /*}}
                transform: {cmd: [sh, -c, 'cp "$images" /pfs/out/']}
                """.utf8
            ).write(to: spec)
            #expect(try await vigil.run(["pipeline", "create", spec.path]).status == 0)
            let engine = try await vigil.run(["engine", "--until-idle"])
            #expect(engine.status == 0, "\(engine.error)")
            #expect(try await vigil.run(["token", "create", "--role", "admin"]).status == 0)
            struct Entry: Decodable { var name: String }
            #expect(try await vigil.json([Entry].self, ["ls", "copies:/"]).count == 3)

            var open: [String] = []
            var checked = 0
            let enumerator = FileManager.default.enumerator(atPath: vigil.home.path)
            for path in [""] + ((enumerator?.allObjects as? [String]) ?? []) {
                var info = stat()
                guard lstat(vigil.home.appendingPathComponent(path).path, &info) == 0 else { continue }
                checked += 1
                if info.st_mode & 0o077 != 0 { open.append("\(path) \(String(info.st_mode & 0o777, radix: 8))") }
            }
            #expect(checked > 20, "only \(checked) entries were looked at")
            #expect(open.isEmpty, "open to others: \(open.prefix(20))")
        }

        @Test func killingTheEngineMidJobLosesNothingAndRedoesNoFinishedDatum() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let vigil = try await Self.dataFolder(in: root, frames: 200, tag: "k")
            // Each run of a datum appends its id to a log outside the store: what shows a datum ran twice.
            // The command runs as an unprivileged user when the tests run as root: it may write this one file.
            let runs = root.appendingPathComponent("runs.log")
            #expect(
                FileManager.default.createFile(atPath: runs.path, contents: nil, attributes: [.posixPermissions: 0o666])
            )
            chmod(root.path, 0o711)
            let spec = root.appendingPathComponent("copy.yaml")
            try Data(
                """
                name: copies
                input: {pfs: {repo: images, glob: /*}}
                transform:
                  cmd: [sh, -c, 'sleep 0.02; cp "$images" /pfs/out/; echo "$PACH_DATUM_ID" >> \(runs.path)']
                parallelism: 2
                """.utf8
            ).write(to: spec)
            #expect(try await vigil.run(["pipeline", "create", spec.path]).status == 0)

            let engine = try vigil.start(["engine", "--until-idle"])
            var job: JobInfo?
            var before: [DatumRecord] = []
            let started = try await eventually(60) {
                job = try await vigil.json([JobInfo].self, ["job", "list"]).first
                guard let job else { return false }
                before = try await vigil.json([DatumRecord].self, ["datum", "list", job.id])
                return before.count >= 40
            }
            #expect(started, "the job never got 40 datums done")
            kill(engine.processIdentifier, SIGKILL)
            try await waitForExit(of: engine)
            // The datum folders it was working in (copies of frames) are left behind by the kill.
            let orphans = Self.datumFolders(of: engine.processIdentifier, home: vigil.home)
            #expect(!orphans.isEmpty, "no datum folder of the killed engine was found")
            before = try await vigil.json([DatumRecord].self, ["datum", "list", try #require(job).id])
            #expect(before.count < 200, "the job finished before it was killed; nothing was tested")
            #expect(try await vigil.json([JobInfo].self, ["job", "list"]).first?.state == .running)
            #expect(try await vigil.run(["fsck"]).status == 0)

            let resumed = try await vigil.run(["engine", "--until-idle"])
            #expect(resumed.status == 0, "\(resumed.error)")
            // The next engine removed them.
            #expect(Self.datumFolders(of: engine.processIdentifier, home: vigil.home).isEmpty)
            #expect(orphans.allSatisfy { !FileManager.default.fileExists(atPath: $0) })
            let jobs = try await vigil.json([JobInfo].self, ["job", "list"])
            let done = try #require(jobs.first)
            #expect(jobs.count == 1, "the killed job is resumed, not replaced")
            #expect(done.id == job?.id)
            #expect(done.state == .finished)
            #expect(done.counts.recovered == before.count)
            #expect(done.counts.recovered + done.counts.processed == 200)

            // Every output once, with the input's bytes; datums finished before the kill did not run again.
            let outputs = try await vigil.json([ListEntry].self, ["ls", "copies"])
            #expect(outputs.count == 200)
            let sample = try await vigil.run(["cat", "copies:/cam3-1700000003.jpg"])
            #expect(
                sample.output
                    == (try String(
                        contentsOf: root.appendingPathComponent("frames/cam3-1700000003.jpg"), encoding: .utf8)))
            let log = try String(contentsOf: runs, encoding: .utf8).split(separator: "\n").map(String.init)
            var counts: [String: Int] = [:]
            for id in log { counts[id, default: 0] += 1 }
            for record in before {
                #expect(counts[record.datum] == 1, "datum \(record.datum) ran again after the resume")
            }
            #expect(Set(log).count == 200)
            #expect(try await vigil.run(["fsck"]).status == 0)
        }

        /// The datum folders made by process `pid` in the data folder's scratch or in the system's temporary
        /// folder (where they go when the sandbox user cannot reach the data folder).
        static func datumFolders(of pid: Int32, home: URL) -> [String] {
            let places = [home.appendingPathComponent("scratch").path, SandboxScratch.fallbackFolder.path]
            let prefix = DatumFolder.name("", process: pid)
            return places.flatMap { place in
                ((try? FileManager.default.contentsOfDirectory(atPath: place)) ?? []).filter { $0.hasPrefix(prefix) }
                    .map { place + "/" + $0 }
            }
        }

        @Test func aPutFromAnotherProcessWakesARunningEngineWhichStopsCleanly() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let vigil = VigilProcess(home: root.appendingPathComponent("home"))
            try await vigil.run(["init"])
            try await vigil.run(["repo", "create", "images"])
            let spec = root.appendingPathComponent("copy.yaml")
            try Data("{name: copies, input: {pfs: {repo: images, glob: /*}}, transform: {stage: copy}}".utf8).write(
                to: spec)
            #expect(try await vigil.run(["pipeline", "create", spec.path]).status == 0)

            let engine = try vigil.start(["engine"])
            defer { if engine.isRunning { kill(engine.processIdentifier, SIGKILL) } }
            for round in 0..<3 {
                let frames = root.appendingPathComponent("frames\(round)")
                try makeFrames(in: frames, count: 2, tag: "r\(round)")
                #expect(try await vigil.run(["put", "images:/r\(round)", frames.path]).status == 0)
                let arrived = try await eventually(20) {
                    try await vigil.json([ListEntry].self, ["ls", "copies"]).count == round + 1
                }
                #expect(arrived, "round \(round): the engine did not process the new commit")
            }
            kill(engine.processIdentifier, SIGTERM)
            try await waitForExit(of: engine)
            #expect(engine.terminationReason == .exit)
            #expect(engine.terminationStatus == 0)
            let jobs = try await vigil.json([JobInfo].self, ["job", "list"])
            #expect(jobs.count == 3)
            // Each round's folder is one datum under `/*`, and both of its files were copied.
            #expect(jobs.allSatisfy { $0.state == .finished && $0.counts.processed == 1 })
            #expect(try await vigil.json([ListEntry].self, ["ls", "copies:/r2"]).count == 2)
        }
    }
}
