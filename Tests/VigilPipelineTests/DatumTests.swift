import Foundation
import Testing
import VigilPipeline
import VigilStore

@Suite("Datums")
struct DatumTests {
    @Test func oneFileAddedToAThousandMakesExactlyOneNewDatum() async throws {
        let store = try makeStore()
        try await store.createRepo("images")
        var files: [String: String] = [:]
        for index in 0..<1_000 { files["/cam\(index % 4)-\(1_700_000_000 + index).jpg"] = "frame \(index)" }
        let first = try await commit(files, to: "images", in: store)
        let spec = PipelineSpec(
            name: "validate", input: .pfs(PFSInput(repo: "images", glob: "/*")), transform: Transform(stage: "validate")
        )
        let lister = DatumLister(trees: store.trees)
        let before = try await lister.datums(of: spec.input, commits: ["images": first], specHash: spec.specHash)
        #expect(before.count == 1_000)
        #expect(Set(before.map(\.id)).count == 1_000)

        let second = try await commit(["/cam9-1800000000.jpg": "new frame"], to: "images", in: store)
        let after = try await lister.datums(of: spec.input, commits: ["images": second], specHash: spec.specHash)
        let new = Set(after.map(\.id)).subtracting(before.map(\.id))
        #expect(new.count == 1)
        #expect(after.first { new.contains($0.id) }?.inputs.map(\.path) == ["/cam9-1800000000.jpg"])
        #expect(after.allSatisfy { $0.inputs[0].commit == second.id })

        // A changed file is a new datum; a removed one is gone; another spec gives other ids.
        let third = try await commit(
            ["/cam0-1700000000.jpg": "edited"], to: "images", in: store, deleting: ["/cam1-1700000001.jpg"])
        let later = try await lister.datums(of: spec.input, commits: ["images": third], specHash: spec.specHash)
        #expect(Set(later.map(\.id)).subtracting(after.map(\.id)).count == 1)
        #expect(Set(after.map(\.id)).subtracting(later.map(\.id)).count == 2)
        let other = try await lister.datums(of: spec.input, commits: ["images": third], specHash: "another spec")
        #expect(Set(other.map(\.id)).isDisjoint(with: later.map(\.id)))
    }

    @Test func crossAndUnionCombineInputs() async throws {
        let store = try makeStore()
        try await store.createRepo("detect")
        try await store.createRepo("rules")
        let detections = try await commit(
            ["/cam1/a.json": "1", "/cam1/b.json": "2", "/cam2/c.json": "3"], to: "detect", in: store)
        let rules = try await commit(["/customers.yaml": "r"], to: "rules", in: store)
        let lister = DatumLister(trees: store.trees)
        let detect = PipelineInput.pfs(PFSInput(repo: "detect", glob: "/*/*"))
        let rulesInput = PipelineInput.pfs(PFSInput(repo: "rules", glob: "/"))
        let commits = ["detect": detections, "rules": rules]

        let cross = try await lister.datums(of: .cross([detect, rulesInput]), commits: commits, specHash: "s")
        #expect(
            cross.map { $0.inputs.map(\.path) } == [
                ["/cam1/a.json", "/"], ["/cam1/b.json", "/"], ["/cam2/c.json", "/"],
            ])
        #expect(cross.allSatisfy { $0.inputs[1].kind == .directory && $0.inputs[1].hash == rules.tree.hash })

        let union = try await lister.datums(of: .union([detect, rulesInput]), commits: commits, specHash: "s")
        #expect(union.map { $0.inputs.map(\.name) } == [["detect"], ["detect"], ["detect"], ["rules"]])

        // An input with no commit yet: the cross product is empty, the union has the other side.
        let missing = ["detect": detections]
        #expect(try await lister.datums(of: .cross([detect, rulesInput]), commits: missing, specHash: "s").isEmpty)
        #expect(try await lister.datums(of: .union([detect, rulesInput]), commits: missing, specHash: "s").count == 3)

        // A new rules version changes every cross datum (the rules folder's hash is part of each).
        let newRules = try await commit(["/customers.yaml": "r2"], to: "rules", in: store)
        let recross = try await lister.datums(
            of: .cross([detect, rulesInput]), commits: ["detect": detections, "rules": newRules], specHash: "s")
        #expect(Set(recross.map(\.id)).isDisjoint(with: cross.map(\.id)))
    }
}
