import Foundation
import ServerTestSupport
import Testing
import VigilPipeline

/// `vigil pipeline export --format pachyderm`: every spec it writes must pass Pachyderm's own generated schema
/// (a copy in Tests/Data/pachyderm, checked with docs/schemas/check.py) and read back as the same pipeline.
@Suite("Pachyderm exports")
struct PachydermExportTests {
    /// check.py on `documents` against Pachyderm's schema: its exit status and output.
    static func check(_ documents: [Data]) async throws -> (Int32, String) {
        try await SchemaCheck.check(schema: "Tests/Data/pachyderm/CreatePipelineRequest.schema.json", documents)
    }

    /// Vigil's pipelines of every shape: the vision chain, a command with secrets and limits, a union.
    static let specs = [
        "name: validate\ninput: {pfs: {repo: uploads, glob: /*}}\ntransform: {stage: validate}\nparallelism: 7",
        """
        name: detect
        description: objects in valid frames
        input: {pfs: {repo: validate, glob: "/valid/*"}}
        transform: {stage: detect, options: {intraOpThreads: 2, scoreThreshold: 0.4}}
        datumTries: 2
        datumTimeout: 1.5m
        resourceRequests: {cpu: 1.5, memory: 1Gi}
        autoscaling: true
        """,
        """
        name: threats
        input:
          cross:
            - pfs: {repo: detect, glob: "/*/*"}
            - pfs: {repo: rules, glob: /, reprocess: false}
        transform: {stage: threats}
        """,
        """
        pipeline: {name: per-device}
        input: {union: [{pfs: {repo: detect, glob: "/*", name: a}}, {pfs: {repo: detect, branch: dev, glob: "/*", name: b}}]}
        transform:
          cmd: [python3, -c, "print(1)"]
          stdin: [echo hi]
          env: {MODE: fast}
          secrets: [{envVar: TOKEN}, {name: creds, key: api, envVar: API_KEY}]
          user: "1000"
          accept_return_code: [2]
          image: python:3.12-slim
        resource_limits: {memory: 300000000, disk: 2Gi, cpu: 1, gpu: {type: nvidia.com/gpu, number: 1}}
        salt: s1
        datum_timeout: 250ms
        """,
    ]

    @Test func everyExportPassesPachydermsSchema() async throws {
        let exports = try Self.specs.map { try PachydermExport(try PipelineSpecParser.parse($0), image: "reg/vigil:1") }
        let (status, output) = try await Self.check(exports.map(\.json))
        #expect(status == 0, "\(output)")
        #expect(output.components(separatedBy: "ok ").count == Self.specs.count + 1, "\(output)")
        // The check can fail: an export with a field Pachyderm does not know does not pass.
        var broken = try #require(JSONSerialization.jsonObject(with: exports[0].json) as? [String: Any])
        broken["parallelism"] = 7
        let (brokenStatus, brokenOutput) = try await Self.check([try JSONSerialization.data(withJSONObject: broken)])
        #expect(brokenStatus == 1 && brokenOutput.contains("'parallelism' was unexpected"), "\(brokenOutput)")
    }

    @Test func builtInStagesRunAsVigilStageInVigilsImage() throws {
        let spec = try PipelineSpecParser.parse(Self.specs[1])
        let export = try PachydermExport(spec, image: "reg/vigil:1")
        let back = try PipelineSpecParser.read(String(decoding: export.json, as: UTF8.self))
        #expect(back.spec.transform.image == "reg/vigil:1")
        #expect(
            back.spec.transform.cmd == [
                "vigil", "stage", "detect", "--option", "intraOpThreads=2", "--option", "scoreThreshold=0.4",
            ])
        #expect(back.spec.input == spec.input && back.spec.description == spec.description)
        #expect(back.spec.datumTries == 2 && back.spec.datumTimeout == 90)
        #expect(back.spec.resourceRequests == spec.resourceRequests && back.spec.autoscaling == true)
        let text = String(decoding: export.json, as: UTF8.self)
        #expect(text.contains(#""datumTimeout" : "90s""#) && text.contains(#""memory" : "1Gi""#), "\(text)")
        #expect(export.notes.isEmpty)
    }

    @Test func aCommandGoesBackAsItCame() throws {
        let spec = try PipelineSpecParser.parse(Self.specs[3])
        let export = try PachydermExport(spec)
        let back = try PipelineSpecParser.parse(String(decoding: export.json, as: UTF8.self))
        #expect(back.transform.cmd == spec.transform.cmd && back.transform.stdin == spec.transform.stdin)
        #expect(back.transform.env == spec.transform.env && back.transform.image == "python:3.12-slim")
        #expect(back.transform.acceptReturnCode == [2] && back.transform.user == "1000")
        #expect(back.input == spec.input && back.salt == "s1" && back.datumTimeout == 0.25)
        #expect(back.resourceLimits == spec.resourceLimits)
        // A secret read from the engine's own environment needs a Kubernetes secret to come from there.
        #expect(back.transform.secrets?.map(\.source) == ["TOKEN", "api"])
        #expect(export.notes.count == 1 && export.notes[0].contains("per-device-secrets"), "\(export.notes)")
    }

    @Test func aCommandWithoutAnImageOfItsOwnIsNamed() throws {
        let spec = try PipelineSpecParser.parse(
            "name: edges\ninput: {pfs: {repo: images, glob: /*}}\ntransform: {cmd: [python3, /edges.py]}")
        let export = try PachydermExport(spec, image: "reg/vigil:1")
        #expect(export.notes.count == 1, "\(export.notes)")
        #expect(export.notes.first?.hasPrefix("transform.image: edges names no image") == true, "\(export.notes)")
        #expect(
            try PipelineSpecParser.parse(String(decoding: export.json, as: UTF8.self)).transform.image == "reg/vigil:1")
    }

    @Test func aSideInputIsNamedAsNotCarryingOver() throws {
        let export = try PachydermExport(try PipelineSpecParser.parse(Self.specs[2]))
        #expect(export.notes.count == 1 && export.notes[0].hasPrefix("input rules:"), "\(export.notes)")
        #expect(String(decoding: export.json, as: UTF8.self).contains(PachydermExport.defaultImage))
    }
}
