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
        #expect(failure.exitCode == 3, "\(failure.error ?? "")")
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

    /// The issue's leaking pipeline: it dumps its environment, links an outside credentials file into its
    /// output and appends to its input. Nothing leaks, the stored blob keeps its bytes, the datum fails saying
    /// why, and fsck is clean.
    @Test func aCommandCannotLeakSecretsOrOutsideFilesOrChangeItsInputs() async throws {
        var fixture = try await EngineFixture(onDisk: true)
        defer { fixture.cleanUp() }
        let credentials = fixture.folder.appendingPathComponent("aws/credentials")
        try FileManager.default.createDirectory(
            at: credentials.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data("aws_secret_access_key = outside-secret-1234".utf8).write(to: credentials)
        fixture.environment.processEnvironment["VIGIL_ALERT_SECRET"] = "alert-secret-5678"
        fixture.environment.processEnvironment["AWS_SECRET_ACCESS_KEY"] = "aws-secret-9012"
        fixture.environment.processEnvironment["PATH"] = ProcessInfo.processInfo.environment["PATH"]
        try await fixture.store.createRepo("images")
        let original = try await commit(["/cam1-1700000000.jpg": "original bytes"], to: "images", in: fixture.store)
        try await fixture.create(
            """
            name: leak
            input: {pfs: {repo: images, glob: '/*'}}
            transform:
              cmd: [sh, -c, 'env > /pfs/out/env; ln -s \(credentials.path) /pfs/out/c; chmod u+w "$images"; printf X >> "$images"; true']
            datumTries: 1
            """)
        let job = try #require(try await fixture.engine.runUntilIdle().first)
        #expect(job.state == .finishedWithFailures)
        let failure = try #require(
            try await fixture.environment.jobs.datums(job: job.id, state: .failed, limit: 1).first)
        #expect(failure.error?.contains("/pfs/out/c is a symbolic link to '\(credentials.path)'") == true)
        #expect(try await fixture.files("leak").isEmpty)
        // The stored input is intact, read back and checked by fsck.
        let entry = try #require(try await fixture.store.trees.lookup("/cam1-1700000000.jpg", in: original.tree))
        #expect(String(decoding: try await fixture.store.blobs.get(entry.hash), as: UTF8.self) == "original bytes")
        #expect(try await fixture.store.check().problems.isEmpty)

        // Without the link, the environment it saw holds no secret, only what the sandbox allows.
        try await fixture.create(
            """
            name: environment
            input: {pfs: {repo: images, glob: '/*'}}
            transform:
              cmd: [sh, -c, 'env > /pfs/out/env; id -u > /pfs/out/uid']
              env: {MODE: test}
              secrets: [{name: alerts, key: VIGIL_ALERT_SECRET, envVar: SIGNING_KEY}]
            """)
        _ = try await fixture.engine.runUntilIdle()
        let files = try await fixture.files("environment")
        let environment = try #require(files["/env"])
        for secret in ["aws-secret-9012", "AWS_SECRET_ACCESS_KEY", "outside-secret-1234"] {
            #expect(!environment.contains(secret))
        }
        // The one secret the spec names, under the name it asks for.
        #expect(environment.contains("SIGNING_KEY=alert-secret-5678"))
        #expect(!environment.contains("VIGIL_ALERT_SECRET"))
        #expect(environment.contains("MODE=test") && environment.contains("PACH_JOB_ID="))
        if geteuid() == 0 {
            // As root the engine starts commands as nobody.
            #expect(files["/uid"] == "65534\n")
        }
    }

    @Test(arguments: [
        ("echo x > \"$TMPDIR/x\"; ln \"$TMPDIR/x\" /pfs/out/x", "is a hard link to a file outside /pfs"),
        ("mkfifo /pfs/out/p", "is a named pipe; only files and folders are outputs"),
        ("ln -s /etc/passwd /pfs/out/p", "is a symbolic link to '/etc/passwd', which is not an input file"),
        ("ln -s /pfs/out/nothing /pfs/out/p", "is a symbolic link to nothing"),
    ])
    func outputsThatAreNotTheCommandsOwnFilesAreRefused(script: String, reason: String) async throws {
        let fixture = try await EngineFixture(onDisk: true)
        defer { fixture.cleanUp() }
        try await fixture.store.createRepo("images")
        try await commit(["/a": "a"], to: "images", in: fixture.store)
        try await fixture.create(
            "{name: bad, input: {pfs: {repo: images, glob: '/*'}}, transform: {cmd: [sh, -c, '\(script)']}, "
                + "datumTries: 1}")
        let job = try #require(try await fixture.engine.runUntilIdle().first)
        let failure = try #require(
            try await fixture.environment.jobs.datums(job: job.id, state: .failed, limit: 1).first)
        // With the datum's folder mounted at /pfs (root), a hard link from outside it cannot even be made.
        let crossedMounts = script.hasPrefix("echo x") && failure.log.contains("Invalid cross-device link")
        #expect(failure.error?.contains(reason) == true || crossedMounts, "\(failure.error ?? "") \(failure.log)")
    }

    @Test func aLinkToAnInputPassesItsBytesThrough() async throws {
        let fixture = try await EngineFixture(onDisk: true)
        defer { fixture.cleanUp() }
        try await fixture.store.createRepo("images")
        try await commit(["/a": "pass me"], to: "images", in: fixture.store)
        try await fixture.create(
            "{name: pass, input: {pfs: {repo: images, glob: '/*'}}, transform: {cmd: [sh, -c, 'ln -s \"$images\" /pfs/out/a']}}"
        )
        let job = try #require(try await fixture.engine.runUntilIdle().first)
        #expect(job.state == .finished)
        #expect(try await fixture.files("pass") == ["/a": "pass me"])
    }

    @Test func limitsOnOutputSizeAndMemoryFailTheDatumWithTheReason() async throws {
        let fixture = try await EngineFixture(onDisk: true)
        defer { fixture.cleanUp() }
        try await fixture.store.createRepo("images")
        try await commit(["/a": "a"], to: "images", in: fixture.store)
        let cases = [
            ("one", "head -c 3000000 /dev/zero > /pfs/out/big", "a file over the limit: 1048576 bytes"),
            (
                "many", "for i in 1 2 3; do head -c 600000 /dev/zero > /pfs/out/f$i; done",
                "wrote more than 1048576 bytes"
            ),
            ("memory", "python3 -c \"x = bytearray(600 << 20)\"", "exited with status 1"),
        ]
        for (name, script, _) in cases {
            try await fixture.create(
                "{name: \(name), input: {pfs: {repo: images, glob: '/*'}}, transform: {cmd: [sh, -c, '\(script)']}, "
                    + "datumTries: 1, resourceLimits: {memory: 256Mi, disk: 1Mi}}")
        }
        for job in try await fixture.engine.runUntilIdle() {
            let reason = try #require(cases.first { $0.0 == job.pipeline }).2
            let failure = try #require(
                try await fixture.environment.jobs.datums(job: job.id, state: .failed, limit: 1).first)
            #expect(failure.error?.contains(reason) == true, "\(job.pipeline): \(failure.error ?? "")")
            if job.pipeline == "memory" { #expect(failure.log.contains("MemoryError")) }
        }
    }

    /// A time-out kills the command's whole process group: what it started in the background dies with it.
    @Test func aTimeOutKillsEverythingTheCommandStarted() async throws {
        let fixture = try await EngineFixture(onDisk: true)
        defer { fixture.cleanUp() }
        try await fixture.store.createRepo("images")
        try await commit(["/a": "a"], to: "images", in: fixture.store)
        try await fixture.create(
            "{name: slow, input: {pfs: {repo: images, glob: '/*'}}, "
                + "transform: {cmd: [sh, -c, 'sleep 60 & echo child=$!; sleep 60']}, datumTries: 1, datumTimeout: 500ms}"
        )
        let job = try #require(try await fixture.engine.runUntilIdle().first)
        let failure = try #require(
            try await fixture.environment.jobs.datums(job: job.id, state: .failed, limit: 1).first)
        #expect(failure.error?.contains("datumTimeout") == true)
        let line = try #require(failure.log.split(separator: "\n").first { $0.hasPrefix("child=") })
        let pid = try #require(Int32(line.dropFirst("child=".count)))
        // Gone, or at most a zombie waiting for init to reap it.
        var gone = false
        for _ in 0..<200 where !gone {
            let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
            gone = stat.isEmpty || stat.contains(") Z ")
            if !gone { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(gone, "the background sleep \(pid) outlived its datum")
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
