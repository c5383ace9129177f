/// What Vigil does with the fields of Pachyderm's pipeline spec (`CreatePipelineRequest`) beyond the ones it
/// applies: each is either *kept* (accepted, left without effect on a local engine, and named in the spec's
/// one warning line) or *refused* (an error that says what to do instead). A field in neither list and not
/// read by the parser is unknown, and an error too. docs/DEPLOY.md has the whole table.
enum PachydermFields {
    /// Where in a spec a field sits: the key the tables below are looked up with.
    enum Section: String {
        case spec, transform, pfs, input, resources
    }

    /// Kept, without effect here: why, as the warning line says it.
    static let kept: [Section: [String: String]] = [
        .spec: [
            "autoscaling": "a scheduler's, see docs/DEPLOY.md",
            "resourceRequests": "a scheduler's",
            "jobTimeout": "each datum has datumTimeout",
            "datumSetSpec": "datums are queued one by one",
            "schedulingSpec": "Kubernetes only",
            "podSpec": "Kubernetes only",
            "podPatch": "Kubernetes only",
            "metadata": "Kubernetes only",
            "tolerations": "Kubernetes only",
            "sidecarResourceLimits": "no sidecar",
            "sidecarResourceRequests": "no sidecar",
            "maximumExpectedUptime": "no services",
            "reprocessSpec": "failed datums are retried at the next job",
        ],
        .transform: [
            "image": "the command runs on this host",
            "imagePullSecrets": "no images are pulled",
            "workingDir": "the command runs in its datum's folder",
            "debug": "logs are always kept",
            "memoryVolume": "no volumes",
            "dockerfile": "no images are built",
        ],
        .pfs: [
            "lazy": "inputs are copied before the command starts"
        ],
        .resources: [
            "cpu": "a scheduler's: nothing caps a command's CPU share here",
            "gpu": "a scheduler's",
        ],
    ]

    /// Refused: what to do instead.
    static let refused: [Section: [String: String]] = [
        .spec: [
            "tfJob": "Vigil runs no Kubeflow jobs; give a `transform`",
            "service": "Vigil runs no services; a pipeline's output is read with `vigil cat` or the API",
            "spout": "Vigil has no spouts; put data in with `vigil put` or the upload API",
            "egress": "Vigil has no egress; read the output repo (`vigil cat`, the API, S3 ingest's mirror)",
            "s3Out": "a command writes its output to /pfs/out here",
            "determined": "Vigil runs no Determined experiments",
        ],
        .transform: [
            "errCmd": "Vigil fails a datum whose command fails; handle errors inside `cmd`",
            "errStdin": "Vigil fails a datum whose command fails; handle errors inside `cmd`",
            "datumBatching": "each datum runs its own command here",
        ],
        .input: [
            "join": "Vigil has no join inputs; use `cross` and match the files inside the command",
            "group": "Vigil has no group inputs; use a glob that matches the group's folder",
            "cron": "Vigil has no cron inputs; commit to a repo on a schedule instead",
        ],
        .pfs: [
            "commit": "an input follows its branch's head here; name a branch",
            "joinOn": "only for join inputs, which Vigil lacks",
            "outerJoin": "only for join inputs, which Vigil lacks",
            "groupBy": "only for group inputs, which Vigil lacks",
            "emptyFiles": "a command always reads the files' bytes here",
            "s3": "inputs are files under /pfs here, not an S3 gateway",
            "trigger": "an input's every commit starts a job here",
            "propagationSpec": "an input's every commit starts a job here",
            "reference": "a command always reads the files' bytes here",
        ],
    ]

    /// Every Pachyderm field of `section`, kept or refused.
    static func known(_ section: Section) -> [String] {
        Array((kept[section] ?? [:]).keys) + Array((refused[section] ?? [:]).keys)
    }
}
