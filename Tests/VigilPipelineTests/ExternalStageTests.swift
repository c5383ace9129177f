import Foundation
import Testing
import VigilStore

@testable import VigilPipeline

@Suite("External command stages")
struct ExternalStageTests {
    /// A stage written for Pachyderm: reads /pfs/images, writes /pfs/out, uses the PACH_* variables.
    static let pythonStage = """
        import os, sys
        job, datum, image = os.environ["PACH_JOB_ID"], os.environ["PACH_DATUM_ID"], os.environ["images"]
        name = os.path.basename(image)
        data = open(os.path.join("/pfs/images", name), "rb").read()
        if data == b"crash":
            print("cannot read " + name, file=sys.stderr)
            sys.exit(3)
        os.makedirs("/pfs/out/sizes", exist_ok=True)
        with open("/pfs/out/sizes/" + name + ".txt", "w") as out:
            out.write("%d %s %d %d" % (len(data), name, len(job), len(datum)))
        print("done " + name)
        """

    @Test func aPythonStageRunsInThePfsLayout() async throws {
        let fixture = try await EngineFixture(onDisk: true)
        defer { fixture.cleanUp() }
        try await fixture.store.createRepo("images")
        try await commit(
            ["/cam1-1700000000.jpg": "12345", "/cam2-1700000001.jpg": "crash", "/cam3-1700000002.jpg": "xy"],
            to: "images", in: fixture.store)
        let script = fixture.folder.appendingPathComponent("stage.py")
        try Data(Self.pythonStage.utf8).write(to: script)
        // The script is read from standard input, whose `/pfs` paths are mapped like the arguments'.
        let lines = Self.pythonStage.split(separator: "\n", omittingEmptySubsequences: false).map {
            "'" + $0.replacingOccurrences(of: "'", with: "''") + "'"
        }
        try await fixture.create(
            """
            name: sizes
            input: {pfs: {repo: images, glob: '/*'}}
            transform:
              cmd: [python3, '-']
              stdin: [\(lines.joined(separator: ", "))]
            datumTries: 2
            """)
        let job = try #require(try await fixture.engine.runUntilIdle().first)
        #expect(job.state == .finishedWithFailures)
        #expect(job.counts.processed == 2)
        #expect(
            try await fixture.files("sizes") == [
                "/sizes/cam1-1700000000.jpg.txt": "5 cam1-1700000000.jpg 32 64",
                "/sizes/cam3-1700000002.jpg.txt": "2 cam3-1700000002.jpg 32 64",
            ])
        let failure = try #require(
            try await fixture.environment.jobs.datums(job: job.id, state: .failed, limit: 5).first)
        #expect(failure.exitCode == 3)
        #expect(failure.attempts == 2)
        #expect(failure.log.contains("cannot read cam2-1700000001.jpg"))
        #expect(failure.error?.contains("exited with status 3") == true)
        let success = try #require(
            try await fixture.environment.jobs.datums(job: job.id, state: .success, limit: 5).first)
        #expect(success.log.contains("done cam"))
        // The inputs were hard links to the blobs; the store is intact afterwards.
        #expect(try await fixture.store.check().problems.isEmpty)
        // Nothing is left in the scratch folder.
        let scratch = try FileManager.default.contentsOfDirectory(atPath: fixture.environment.scratch.path)
        #expect(scratch.isEmpty)
    }

    @Test func aCommandPastItsTimeOutIsKilledAndRecorded() async throws {
        let fixture = try await EngineFixture(onDisk: true)
        defer { fixture.cleanUp() }
        try await fixture.store.createRepo("images")
        try await commit(["/a": "a"], to: "images", in: fixture.store)
        try await fixture.create(
            "{name: slow, input: {pfs: {repo: images, glob: '/*'}}, transform: {cmd: [sleep, '30']}, "
                + "datumTries: 1, datumTimeout: 300ms}")
        // Had the command not been killed, `sleep` would have exited 0 and the datum succeeded.
        let job = try #require(try await fixture.engine.runUntilIdle().first)
        #expect(job.state == .finishedWithFailures)
        let failure = try #require(
            try await fixture.environment.jobs.datums(job: job.id, state: .failed, limit: 1).first)
        #expect(failure.error?.contains("datumTimeout") == true)
    }

    @Test func pfsPathsAreMappedOnlyWhereTheyStartAPath() {
        let mapped = { (text: String) in ExternalCommandStage.mapPFS(text, to: "/tmp/x/pfs") }
        #expect(mapped("/pfs/out/a") == "/tmp/x/pfs/out/a")
        #expect(mapped("--in=/pfs/images") == "--in=/tmp/x/pfs/images")
        #expect(mapped("open('/pfs/out/x')") == "open('/tmp/x/pfs/out/x')")
        #expect(mapped("/pfs") == "/tmp/x/pfs")
        #expect(mapped("/data/pfs/x") == "/data/pfs/x")
        #expect(mapped("/pfsx/y") == "/pfsx/y")
    }
}
