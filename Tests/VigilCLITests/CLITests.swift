import Foundation
import Testing
import VigilStore

#if canImport(Glibc)
    import Glibc
#endif

extension ProcessTests {
    @Suite("vigil command line", .serialized)
    struct CLITests {
        struct LogEntry: Decodable {
            var id: String
            var message: String
            var tree: TreeRoot
        }

        struct ListEntry: Decodable {
            var name: String
        }

        @Test func aTokenMadeToExpireSaysUntilWhenAndBadDurationsAreRefused() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let vigil = VigilProcess(home: root.appendingPathComponent("home"))
            try await vigil.run(["init"])
            let created = try await vigil.run(["token", "create", "--role", "operator", "--expires-in", "90d"])
            #expect(created.status == 0 && created.output.hasPrefix("vgl_"), "\(created.error)")
            #expect(created.error.contains("until"), "\(created.error)")
            struct Token: Decodable {
                var expires: Date?
            }
            let listed = try await vigil.json([Token].self, ["token", "list"])
            let expires = try #require(listed.first?.expires)
            #expect(abs(expires.timeIntervalSinceNow - 90 * 86_400) < 600)
            #expect(try await vigil.run(["token", "list"]).output.contains("EXPIRES"))
            for bad in ["0", "-3d", "soon", "5y", "1e300d"] {
                let refused = try await vigil.run(["token", "create", "--role", "operator", "--expires-in", bad])
                #expect(refused.status != 0 && refused.error.contains("--expires-in"), "\(bad): \(refused.error)")
            }
            #expect(try await vigil.json([Token].self, ["token", "list"]).count == 1)
        }

        @Test func putListCatLogDiffRoundTrip() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let vigil = VigilProcess(home: root.appendingPathComponent("home"))
            let photos = root.appendingPathComponent("photos")
            try makeFrames(in: photos, count: 30, tag: "a")
            try makeFrames(in: photos.appendingPathComponent("night"), count: 3, tag: "n")

            #expect(try await vigil.run(["init"]).status == 0)
            #expect(try await vigil.run(["repo", "create", "images"]).status == 0)
            let put = try await vigil.run(["put", "images@master:/", photos.path, "-m", "first"])
            #expect(put.status == 0, "\(put.error)")
            #expect(put.output.contains("33 files put (33 new)"))

            let listing = try await vigil.json([ListEntry].self, ["ls", "images"])
            #expect(listing.count == 31)
            #expect(listing.contains { $0.name == "night" })
            let cat = try await vigil.run(["cat", "images:/night/cam1-1700000001.jpg"])
            #expect(cat.output.hasPrefix("n frame 1 "))

            // Putting the same folder again stores nothing new; a changed file is one modification.
            try Data("changed".utf8).write(to: photos.appendingPathComponent("cam0-1700000000.jpg"))
            let again = try await vigil.run(["put", "images", photos.path, "-m", "second"])
            #expect(again.output.contains("33 files put (1 new)"))
            let diff = try await vigil.run(["diff", "images"])
            #expect(diff.output == "M /cam0-1700000000.jpg\n")
            let log = try await vigil.json([LogEntry].self, ["log", "images"])
            #expect(log.map(\.message) == ["second", "first"])
            #expect(log[0].tree.files == 33)

            #expect(try await vigil.run(["repo", "create", "backup"]).status == 0)
            #expect(try await vigil.run(["copy", "images@master^1:/night", "backup:/n"]).status == 0)
            #expect(try await vigil.json([ListEntry].self, ["ls", "backup:/n"]).count == 3)
            let fsck = try await vigil.run(["fsck"])
            #expect(fsck.status == 0)
            #expect(fsck.output.contains("fsck: clean"))
        }

        @Test(arguments: [
            (["ls", "nope"], "repo-not-found"),
            (["ls", "images@dev"], "branch-not-found"),
            (["ls", "images@master:/../x"], "bad-address"),
            (["cat", "images:/missing.jpg"], "path-not-found"),
            (["repo", "create", "images"], "repo-exists"),
            (["repo", "create", "bad name"], "bad-name"),
            (["put", "images", "/no/such/folder"], "path-not-found"),
            (["cat", "images"], "not-a-file"),
        ])
        func errorsAreOneLineWithACodeAndANonZeroExit(arguments: [String], code: String) async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let vigil = VigilProcess(home: root)
            try await vigil.run(["init"])
            try await vigil.run(["repo", "create", "images"])
            let result = try await vigil.run(arguments)
            #expect(result.status == 1)
            #expect(result.error.hasPrefix("vigil: error: "))
            #expect(result.error.hasSuffix("[\(code)]\n"), "\(result.error)")
            #expect(result.error.split(separator: "\n").count == 1)
        }

        @Test func aMissingDataFolderSaysToRunInit() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let result = try await VigilProcess(home: root.appendingPathComponent("absent")).run(["repo", "list"])
            #expect(result.status == 1)
            #expect(result.error.contains("vigil init"))
            #expect(result.error.contains("[not-initialized]"))
        }

        @Test func concurrentPutProcessesLoseNoCommit() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let vigil = VigilProcess(home: root.appendingPathComponent("home"))
            try await vigil.run(["init"])
            try await vigil.run(["repo", "create", "images"])
            var processes: [Process] = []
            for writer in 0..<4 {
                let folder = root.appendingPathComponent("w\(writer)")
                try makeFrames(in: folder, count: 20, tag: "w\(writer)")
                for round in 0..<3 {
                    processes.append(try vigil.start(["put", "images:/w\(writer)/r\(round)", folder.path]))
                }
            }
            for process in processes { try await waitForExit(of: process) }
            #expect(processes.allSatisfy { $0.terminationStatus == 0 })
            let log = try await vigil.json([LogEntry].self, ["log", "images", "--limit", "100"])
            #expect(log.count == 12)
            #expect(log.first?.tree.files == 240)
            #expect(try await vigil.run(["fsck"]).status == 0)
        }

        /// kill -9 a `vigil put` of thousands of files at random moments: every time, fsck is clean, the branch
        /// holds either the last finished commit or the complete new one, and the next put succeeds.
        @Test func killingAPutAtRandomMomentsLosesNothing() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let vigil = VigilProcess(home: root.appendingPathComponent("home"))
            try await vigil.run(["init"])
            try await vigil.run(["repo", "create", "images"])
            let base = root.appendingPathComponent("base")
            try makeFrames(in: base, count: 500, tag: "base")
            #expect(try await vigil.run(["put", "images", base.path]).status == 0)
            var expectedFiles: Int64 = 500
            var head = try await vigil.json([LogEntry].self, ["log", "images"])[0]
            // Time one whole put of a batch's size, so the kills land inside a put however fast the machine is
            // (a fixed window once outlasted every put and killed none).
            let probe = root.appendingPathComponent("probe")
            try makeFrames(in: probe, count: 3_000, tag: "probe", size: 512)
            let probeStart = Date()
            #expect(try await vigil.run(["put", "images:/probe", probe.path]).status == 0)
            let putMicroseconds = UInt32(Date().timeIntervalSince(probeStart) * 1_000_000)
            try FileManager.default.removeItem(at: probe)
            expectedFiles += 3_000
            head = try await vigil.json([LogEntry].self, ["log", "images"])[0]
            var random = SystemRandomNumberGenerator()
            var killed = 0
            for round in 0..<8 {
                let batch = root.appendingPathComponent("batch\(round)")
                try makeFrames(in: batch, count: 3_000, tag: "round \(round)", size: 512)
                let process = try vigil.start(["put", "images:/r\(round)", batch.path])
                usleep(UInt32.random(in: (putMicroseconds / 20)...(putMicroseconds * 9 / 10), using: &random))
                if process.isRunning {
                    kill(process.processIdentifier, SIGKILL)
                    killed += 1
                }
                try await waitForExit(of: process)
                try FileManager.default.removeItem(at: batch)

                let fsck = try await vigil.run(["fsck"])
                #expect(fsck.status == 0, "round \(round): \(fsck.output)")
                let now = try await vigil.json([LogEntry].self, ["log", "images"])[0]
                if now.id == head.id {
                    #expect(now.tree == head.tree, "round \(round): the last finished commit is intact")
                } else {
                    // The put got as far as publishing: then the whole batch is there.
                    #expect(now.tree.files == expectedFiles + 3_000, "round \(round)")
                    expectedFiles += 3_000
                    head = now
                }
            }
            #expect(killed > 0, "no put was ever killed; the timing window is wrong")
            let after = root.appendingPathComponent("after")
            try makeFrames(in: after, count: 10, tag: "after")
            #expect(try await vigil.run(["put", "images:/after", after.path]).status == 0)
            #expect(try await vigil.json([LogEntry].self, ["log", "images"])[0].tree.files == expectedFiles + 10)
            #expect(try await vigil.run(["fsck"]).status == 0)
            let gc = try await vigil.run(["gc", "--grace", "0"])
            #expect(gc.status == 0)
            #expect(try await vigil.run(["fsck"]).status == 0)
        }
    }
}
