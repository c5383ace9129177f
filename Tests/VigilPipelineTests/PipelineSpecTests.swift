import Foundation
import Testing
import VigilPipeline

@Suite("Pipeline specs")
struct PipelineSpecTests {
    @Test func yamlAndJsonSpecsParseToTheSameSpec() throws {
        let yaml = """
            name: detect
            description: find objects in valid images
            input:
              pfs: {repo: validate, glob: /valid/*}
            transform:
              stage: detect
              options: {scoreThreshold: 0.5, model: yolov4-tiny}
            parallelism: 2
            datumTries: 2
            datumTimeout: 30s
            """
        let json = """
            {"name": "detect", "description": "find objects in valid images",
             "input": {"pfs": {"repo": "validate", "branch": "master", "glob": "/valid/*", "name": "validate"}},
             "transform": {"stage": "detect", "options": {"scoreThreshold": 0.5, "model": "yolov4-tiny"}},
             "parallelism": 2, "datumTries": 2, "datumTimeout": 30}
            """
        let fromYAML = try PipelineSpecParser.parse(yaml)
        let fromJSON = try PipelineSpecParser.parse(json)
        #expect(fromYAML == fromJSON)
        #expect(fromYAML.input == .pfs(PFSInput(repo: "validate", glob: "/valid/*")))
        #expect(fromYAML.transform.options == ["scoreThreshold": "0.5", "model": "yolov4-tiny"])
        #expect(fromYAML.datumTimeout == 30)
        #expect(fromYAML.specHash.count == 64)
    }

    @Test func defaultsAndCrossInputsWithCommands() throws {
        let spec = try PipelineSpecParser.parse(
            """
            name: threats
            input:
              cross:
                - pfs: {repo: detect, glob: "/*/*"}
                - pfs: {repo: rules, glob: /, name: rules}
            transform:
              cmd: [python3, /code/threats.py]
              env: {THRESHOLD: 0.7, DEBUG: true}
              stdin: [hello]
            """)
        #expect(spec.parallelism == 1)
        #expect(spec.datumTries == 3)
        #expect(spec.datumTimeout == nil)
        #expect(spec.input.leaves.map(\.name) == ["detect", "rules"])
        #expect(spec.input.leaves.map(\.branch) == ["master", "master"])
        #expect(spec.transform.env == ["THRESHOLD": "0.7", "DEBUG": "true"])
        #expect(spec.transform.cmd == ["python3", "/code/threats.py"])
    }

    @Test func specHashIgnoresHowButNotWhat() throws {
        let base = "name: v\ninput: {pfs: {repo: images, glob: /*}}\ntransform: {stage: validate}\n"
        let hash = try PipelineSpecParser.parse(base).specHash
        #expect(try PipelineSpecParser.parse(base + "parallelism: 4\ndatumTries: 1\n").specHash == hash)
        #expect(try PipelineSpecParser.parse(base.replacingOccurrences(of: "/*", with: "/*.jpg")).specHash != hash)
        #expect(
            try PipelineSpecParser.parse(base.replacingOccurrences(of: "{stage: validate}", with: "{stage: detect}"))
                .specHash != hash)
    }

    @Test(arguments: [
        ("input: {pfs: {repo: a, glob: /}}\ntransform: {stage: s}", "name", "is required"),
        ("name: bad name\ninput: {pfs: {repo: a, glob: /}}\ntransform: {stage: s}", "name", "cannot name a pipeline"),
        (
            "name: p\ninput: {pfs: {repo: a, glob: /}}\ntransform: {stage: s}\nretries: 2", "retries",
            "not a known field"
        ),
        ("name: p\ninput: {pfs: {repo: a, glob: /}, union: []}\ntransform: {stage: s}", "input", "exactly one of"),
        ("name: p\ninput: {pfs: {repo: a}}\ntransform: {stage: s}", "input.pfs.glob", "is required"),
        ("name: p\ninput: {pfs: {repo: a, glob: x}}\ntransform: {stage: s}", "input.pfs.glob", "starts with '/'"),
        (
            "name: p\ninput: {pfs: {repo: a, glob: /, branch: 'a b'}}\ntransform: {stage: s}", "input.pfs.branch",
            "not a valid branch"
        ),
        ("name: p\ninput: {cross: [{pfs: {repo: a, glob: /}}]}\ntransform: {stage: s}", "input.cross", "at least two"),
        (
            "name: p\ninput: {cross: [{pfs: {repo: a, glob: /}}, {pfs: {repo: a, glob: /*}}]}\ntransform: {stage: s}",
            "input", "two inputs are named 'a'"
        ),
        (
            "name: p\ninput: {union: [{pfs: {repo: a, glob: /}}, {pfs: {glob: /}}]}\ntransform: {stage: s}",
            "input.union[1].pfs.repo", "is required"
        ),
        ("name: p\ninput: {pfs: {repo: a, glob: /}}\ntransform: {}", "transform", "give a built-in `stage` or a `cmd`"),
        ("name: p\ninput: {pfs: {repo: a, glob: /}}\ntransform: {stage: s, cmd: [x]}", "transform", "not both"),
        ("name: p\ninput: {pfs: {repo: a, glob: /}}\ntransform: {cmd: []}", "transform.cmd", "non-empty list"),
        (
            "name: p\ninput: {pfs: {repo: a, glob: /}}\ntransform: {stage: s}\nparallelism: 0", "parallelism",
            "from 1 to 256"
        ),
        (
            "name: p\ninput: {pfs: {repo: a, glob: /}}\ntransform: {stage: s}\ndatumTimeout: soon", "datumTimeout",
            "positive duration"
        ),
        (
            "name: p\ninput: {pfs: {repo: a, glob: /}}\ntransform: {stage: s}\ndatumTimeout: -5s", "datumTimeout",
            "positive duration"
        ),
        ("[1, 2", "spec", "not valid YAML"),
        ("- just a list", "spec", "must be a mapping"),
    ])
    func invalidSpecsNameTheFieldAndWhatIsAllowed(text: String, field: String, message: String) {
        let error = #expect(throws: PipelineError.self) { try PipelineSpecParser.parse(text) }
        #expect(error?.code == .badSpec)
        #expect(error?.field == field, "\(error?.description ?? "")")
        #expect(error?.message.contains(message) == true, "\(error?.description ?? "")")
    }
}
