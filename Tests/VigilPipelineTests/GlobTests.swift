import Foundation
import Testing
import VigilPipeline
import VigilStore

@Suite("Globs")
struct GlobTests {
    @Test(arguments: [
        ("/", "/", true),
        ("/", "/a.jpg", false),
        ("/*", "/cam1-1.jpg", true),
        ("/*", "/valid", true),
        ("/*", "/valid/cam1-1.jpg", false),
        ("/valid/*", "/valid/cam1-1.jpg", true),
        ("/valid/*", "/invalid/cam1-1.jpg", false),
        ("/valid/*", "/valid", false),
        ("/*/*", "/cam1/cam1-1.json", true),
        ("/*/*", "/cam1", false),
        ("/*.jpg", "/cam1-1.jpg", true),
        ("/*.jpg", "/cam1-1.png", false),
        ("/cam?-*", "/cam1-9.jpg", true),
        ("/cam?-*", "/cam10-9.jpg", false),
        ("/cam[12]-*", "/cam2-5.jpg", true),
        ("/cam[12]-*", "/cam3-5.jpg", false),
        ("/cam[!1]-*", "/cam3-5.jpg", true),
        ("/cam[!1]-*", "/cam1-5.jpg", false),
        ("/cam[0-9]-*", "/cam7-5.jpg", true),
        ("/**/*.json", "/a/b/c.json", true),
        ("/**/*.json", "/c.json", true),
        ("/**/*.json", "/a/c.jpg", false),
        ("/**", "/a/b", true),
    ])
    func globMatchesPaths(glob: String, path: String, expected: Bool) throws {
        #expect(try Glob(glob).matches(path) == expected)
    }

    @Test(arguments: ["", "*", "valid/*", "/a/../b", "/cam[1", "/./x"])
    func malformedGlobsAreRefused(glob: String) {
        let error = #expect(throws: PipelineError.self) { try Glob(glob) }
        #expect(error?.code == .badGlob)
        #expect(error?.value == glob)
    }

    @Test func matchesWalkTheCommitTree() async throws {
        let store = try makeStore()
        try await store.createRepo("validate")
        let head = try await commit(
            [
                "/valid/cam1-1.jpg": "a", "/valid/cam2-2.jpg": "b", "/invalid/cam3-3.jpg": "c",
                "/invalid/cam3-3.jpg.reason.json": "{}", "/README": "r",
            ], to: "validate", in: store)

        func matches(_ glob: String) async throws -> [String] {
            var found: [String] = []
            try await Glob(glob).forEachMatch(in: head.tree, trees: store.trees) { path, _ in found.append(path) }
            return found
        }
        #expect(try await matches("/") == ["/"])
        #expect(try await matches("/*") == ["/README", "/invalid", "/valid"])
        #expect(try await matches("/valid/*") == ["/valid/cam1-1.jpg", "/valid/cam2-2.jpg"])
        #expect(
            try await matches("/*/*") == [
                "/invalid/cam3-3.jpg", "/invalid/cam3-3.jpg.reason.json", "/valid/cam1-1.jpg", "/valid/cam2-2.jpg",
            ])
        #expect(try await matches("/**/*.json") == ["/invalid/cam3-3.jpg.reason.json"])
        #expect(try await matches("/missing/*").isEmpty)
        #expect(try await matches("/README/*").isEmpty)
    }
}
