import Foundation
import Testing
import VigilPipeline

/// Pachyderm's pipeline specs as `pachctl create pipeline -f` takes them, read by Vigil; and Vigil's pipelines
/// written back as specs Pachyderm's own schema accepts.
@Suite("Pachyderm pipeline specs")
struct PachydermSpecTests {
    static let snakeCase = """
        pipeline: {name: detect, project: {name: default}}
        description: find objects
        input:
          cross:
            - pfs: {repo: validate, glob: "/valid/*", repo_type: user}
            - pfs: {repo: models, glob: /, lazy: true}
        transform:
          cmd: [python3, /detect.py]
          image: registry.example/detect:2
          accept_return_code: [3]
          working_dir: /app
        parallelism_spec: {constant: 4}
        datum_tries: 2
        datum_timeout: 90s
        resource_limits: {memory: 512Mi, cpu: 0.5, gpu: {type: nvidia.com/gpu, number: 1}}
        resource_requests: {memory: 256Mi, cpu: 0.25, disk: 1Gi}
        autoscaling: true
        salt: a1
        scheduling_spec: {node_selector: {pool: gpu}}
        """

    static let camelCase = """
        {"pipeline": {"name": "detect", "project": {"name": "default"}}, "description": "find objects",
         "input": {"cross": [{"pfs": {"repo": "validate", "glob": "/valid/*", "repoType": "user"}},
                             {"pfs": {"repo": "models", "glob": "/", "lazy": true}}]},
         "transform": {"cmd": ["python3", "/detect.py"], "image": "registry.example/detect:2",
                       "acceptReturnCode": [3], "workingDir": "/app"},
         "parallelismSpec": {"constant": 4}, "datumTries": 2, "datumTimeout": "90s",
         "resourceLimits": {"memory": "512Mi", "cpu": 0.5, "gpu": {"type": "nvidia.com/gpu", "number": 1}},
         "resourceRequests": {"memory": "256Mi", "cpu": 0.25, "disk": "1Gi"},
         "autoscaling": true, "salt": "a1", "schedulingSpec": {"nodeSelector": {"pool": "gpu"}}}
        """

    @Test func snakeCaseAndCamelCaseReadAlike() throws {
        let fromYAML = try PipelineSpecParser.read(Self.snakeCase)
        let fromJSON = try PipelineSpecParser.read(Self.camelCase)
        #expect(fromYAML.spec == fromJSON.spec)
        #expect(fromYAML.unapplied == fromJSON.unapplied)
        let spec = fromYAML.spec
        #expect(spec.name == "detect" && spec.parallelism == 4 && spec.datumTries == 2 && spec.datumTimeout == 90)
        #expect(spec.input.leaves.map(\.name) == ["validate", "models"])
        #expect(spec.transform.cmd == ["python3", "/detect.py"])
        #expect(spec.transform.image == "registry.example/detect:2")
        #expect(spec.transform.acceptReturnCode == [3])
        #expect(
            spec.resourceLimits
                == ResourceLimits(
                    memory: 512 << 20, cpu: 0.5, gpu: GPURequest(type: "nvidia.com/gpu", number: 1)))
        #expect(spec.resourceRequests == ResourceLimits(memory: 256 << 20, disk: 1 << 30, cpu: 0.25))
        #expect(spec.autoscaling == true && spec.salt == "a1")
        // Every field without effect here is named, where it sits; the warning is one line.
        let named = fromYAML.unapplied.map { String($0.prefix { $0 != " " }) }
        #expect(
            Set(named) == [
                "input.cross[1].pfs.lazy", "transform.image", "transform.workingDir", "autoscaling",
                "resourceRequests", "resourceLimits.cpu", "resourceLimits.gpu", "schedulingSpec",
            ], "\(fromYAML.unapplied)")
        let warning = try #require(fromYAML.warning)
        #expect(warning.hasPrefix("warning: ") && !warning.contains("\n"))
    }

    @Test func aPachydermSpecIsTheSamePipelineAsVigilsOwnForm() throws {
        let pachyderm = try PipelineSpecParser.parse(
            #"{"pipeline": {"name": "v"}, "input": {"pfs": {"repo": "images", "glob": "/*"}}, "#
                + #""transform": {"stage": "validate"}, "parallelism_spec": {"constant": 0}}"#)
        let vigil = try PipelineSpecParser.parse(
            "name: v\ninput: {pfs: {repo: images, glob: /*}}\ntransform: {stage: validate}")
        #expect(pachyderm == vigil)
        #expect(pachyderm.parallelism == 1)
        #expect(pachyderm.specHash == vigil.specHash)
    }

    @Test func whatIsComputedIsHashedAndWhereItRunsIsNot() throws {
        let base = "pipeline: {name: e}\ninput: {pfs: {repo: images, glob: /*}}\ntransform: {cmd: [sh]"
        let hash = try PipelineSpecParser.parse(base + "}").specHash
        #expect(
            try PipelineSpecParser.parse(base + "}\nautoscaling: true\nresource_requests: {cpu: 2}").specHash == hash)
        #expect(try PipelineSpecParser.parse(base + "}\nsalt: x").specHash != hash)
        #expect(try PipelineSpecParser.parse(base + ", image: 'a:1'}").specHash != hash)
    }

    @Test func unsetFieldsAsPachydermWritesThemMeanNothing() throws {
        let result = try PipelineSpecParser.read(
            """
            {"pipeline": {"name": "e"}, "s3Out": false, "egress": null, "tfJob": {}, "podPatch": "",
             "input": {"pfs": {"repo": "images", "glob": "/*", "lazy": false, "emptyFiles": false, "commit": ""}},
             "transform": {"cmd": ["sh"], "debug": false, "errCmd": []}, "outputBranch": "master"}
            """)
        #expect(result.unapplied.isEmpty, "\(result.unapplied)")
        #expect(result.warning == nil)
    }

    @Test(arguments: [
        (#"input: {join: [{pfs: {repo: a, glob: /}}, {pfs: {repo: b, glob: /}}]}"#, "input.join", "no join inputs"),
        ("input: {group: [{pfs: {repo: a, glob: /}}]}", "input.group", "no group inputs"),
        ("input: {cron: {name: tick, spec: '@every 1m'}}", "input.cron", "no cron inputs"),
        ("input: {pfs: {repo: a, glob: /, commit: abc}}", "input.pfs.commit", "follows its branch"),
        ("input: {pfs: {repo: a, glob: /, s3: true}}", "input.pfs.s3", "not an S3 gateway"),
        ("input: {pfs: {repo: a, glob: /, project: research}}", "input.pfs.project", "no projects"),
        ("input: {pfs: {repo: a, glob: /, repo_type: spec}}", "input.pfs.repoType", "only `user` repos"),
        ("input: {pfs: {repo: a, glob: /}}\negress: {URL: 's3://b/'}", "egress", "no egress"),
        ("input: {pfs: {repo: a, glob: /}}\ns3_out: true", "s3Out", "/pfs/out"),
        ("input: {pfs: {repo: a, glob: /}}\noutput_branch: dev", "outputBranch", "master branch"),
        ("input: {pfs: {repo: a, glob: /}}\ndatum_tries: 2\ndatumTries: 3", "datumTries", "given twice"),
        ("input: {pfs: {repo: a, glob: /}}\nname: p", "pipeline", "not both"),
        (
            "input: {pfs: {repo: a, glob: /}}\nparallelism: 2\nparallelism_spec: {constant: 2}", "parallelismSpec",
            "not both"
        ),
        ("input: {pfs: {repo: a, glob: /}}\ndatum_triez: 2", "datumTriez", "not a known field"),
        ("input: {pfs: {repo: a, glob: /}}\nservice: {type: NodePort}", "service", "no services"),
    ])
    func refusedAndUnknownFieldsAreErrors(body: String, field: String, message: String) {
        let text = "pipeline: {name: p}\ntransform: {cmd: [sh]}\n" + body
        let error = #expect(throws: PipelineError.self) { try PipelineSpecParser.parse(text) }
        #expect(error?.code == .badSpec)
        #expect(error?.field == field, "\(error?.description ?? "")")
        #expect(error?.message.contains(message) == true, "\(error?.description ?? "")")
    }

    @Test func transformErrorHandlersAreRefused() {
        let text = "pipeline: {name: p}\ninput: {pfs: {repo: a, glob: /}}\ntransform: {cmd: [sh], err_cmd: [true]}"
        let error = #expect(throws: PipelineError.self) { try PipelineSpecParser.parse(text) }
        #expect(error?.field == "transform.errCmd")
    }
}
