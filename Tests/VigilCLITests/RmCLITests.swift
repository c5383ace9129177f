import Foundation
import Testing

extension ProcessTests {
    /// `vigil rm` as a user runs it: one commit per branch, history kept, the pipeline's outputs following.
    @Suite("vigil rm")
    struct RmCLITests {
        struct Entry: Decodable { var name: String }

        @Test func removedFilesLeaveTheHeadAndTheirOutputsButNotHistory() async throws {
            let root = try temporaryFolder()
            defer { try? FileManager.default.removeItem(at: root) }
            let vigil = VigilProcess(home: root.appendingPathComponent("home"))
            try await vigil.run(["init"])
            let spec = root.appendingPathComponent("copies.yaml")
            try Data("{name: copies, input: {pfs: {repo: images, glob: /*}}, transform: {stage: copy}}".utf8)
                .write(to: spec)
            #expect(try await vigil.run(["repo", "create", "images"]).status == 0)
            #expect(try await vigil.run(["pipeline", "create", spec.path]).status == 0)
            let frames = root.appendingPathComponent("frames")
            try makeFrames(in: frames, count: 4, tag: "rm")
            #expect(try await vigil.run(["put", "images", frames.path]).status == 0)
            #expect(try await vigil.run(["engine", "--until-idle"]).status == 0)
            let names = try await vigil.json([Entry].self, ["ls", "images"]).map(\.name)
            #expect(names.count == 4)

            let removed = try await vigil.run([
                "rm", "images@master:/\(names[0])", "images:/\(names[1])", "-m", "two gone",
            ])
            #expect(removed.status == 0, "\(removed.error)")
            #expect(removed.output.contains("deleted 2 paths, 2 files left"), "\(removed.output)")
            #expect(try await vigil.json([Entry].self, ["ls", "images"]).map(\.name) == Array(names[2...]))
            // History keeps them: the commit before the deletion still reads.
            #expect(try await vigil.run(["cat", "images@master^:/\(names[0])"]).status == 0)
            // The pipeline removes what they produced at its next job.
            #expect(try await vigil.run(["engine", "--until-idle"]).status == 0)
            #expect(try await vigil.json([Entry].self, ["ls", "copies"]).map(\.name) == Array(names[2...]))

            for (arguments, code) in [
                (["rm", "images@master:/nope.jpg"], "path-not-found"),
                (["rm", "images@master:/"], "bad-path"),
                (["rm", "images@master^:/\(names[2])"], "bad-argument"),
                (["rm", "nothing@master:/x"], "repo-not-found"),
            ] {
                let failed = try await vigil.run(arguments)
                #expect(failed.status == 1 && failed.error.contains("[\(code)]"), "\(arguments): \(failed.error)")
                #expect(failed.error.split(separator: "\n").count == 1)
            }
        }
    }
}
