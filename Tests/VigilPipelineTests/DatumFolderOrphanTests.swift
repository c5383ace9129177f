import Foundation
import Testing

@testable import VigilPipeline

/// A process killed mid-datum leaves its datum folder (copies of frames) behind; the next external-command
/// stage made on the host removes it, and nothing of a running process, another host or another name.
@Suite("Datum folders left by killed processes")
struct DatumFolderOrphanTests {
    @Test func foldersOfKilledProcessesGoAndEveryOtherStays() throws {
        let parent = FileManager.default.temporaryDirectory.appendingPathComponent("orphans-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: parent) }
        let running = try Self.sleeper()
        defer { running.terminate() }
        let killed = try Self.sleeper()
        kill(killed.processIdentifier, SIGKILL)
        killed.waitUntilExit()

        let orphan = DatumFolder.name("job-datum-1-AAAA", process: killed.processIdentifier)
        let otherHost = DatumFolder.hostPrefix == "d0." ? "d1." : "d0."
        let staying = [
            DatumFolder.name("job-datum-1-BBBB", process: running.processIdentifier),
            DatumFolder.name("job-datum-1-CCCC"),
            "\(otherHost)\(killed.processIdentifier).job-datum-1-DDDD",
            "job-datum-1-EEEE",
        ]
        for name in [orphan] + staying {
            _ = try DatumFolder(in: parent, name: name, user: nil)
        }
        // What a command leaves: a read-only file in a folder it made read-only.
        let input = parent.appendingPathComponent(orphan).appendingPathComponent("pfs/out/frame.json").path
        _ = try DatumFolder.writeReadOnly(Data("{}".utf8), to: input)
        chmod(parent.appendingPathComponent(orphan).appendingPathComponent("pfs/out").path, 0o500)

        #expect(DatumFolder.removeOrphans(in: parent) == 1)
        let left = try FileManager.default.contentsOfDirectory(atPath: parent.path)
        #expect(Set(left) == Set(staying))
        #expect(DatumFolder.removeOrphans(in: parent) == 0)
    }

    /// A process that sleeps until it is stopped.
    private static func sleeper() throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sleep")
        process.arguments = ["60"]
        try process.run()
        return process
    }
}
