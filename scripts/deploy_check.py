#!/usr/bin/env python3
"""Check Vigil's deployment offline: the Kubernetes manifests and the Containerfile (`make deploy-check`).

    deploy_check.py --kubectl KUBECTL --hadolint HADOLINT --validate KUBERNETES_VALIDATE --binary VIGIL

1. Renders deploy/kubernetes/overlays/example with `kubectl kustomize` (kustomize v5: kubectl 1.27 or later).
2. Validates every object: Kubernetes' own kinds with kubernetes-validate (strict: unknown fields are errors)
   against Kubernetes 1.32; KEDA's ScaledObject and TriggerAuthentication against the openAPIV3Schema of KEDA's
   CRDs in Tests/Data/keda (strict too: a field the CRD does not name is an error).
3. Holds the objects to Vigil's rules: every container names CPU and memory requests, every Deployment
   readiness and liveness probes on Vigil's own endpoints (`/readyz` checks the database and blob store,
   `/healthz` that the process runs) and a PodDisruptionBudget, every stage's workers (`worker --pipeline
   NAME`) a ScaledObject whose PostgreSQL query counts that stage's backlog in `datum_queue` and says how few
   workers it may scale to (`minReplicaCount`), every ScaledObject a Deployment of the render, every secret
   and ConfigMap key a container or TriggerAuthentication reads exists in the render.
4. Lints the Containerfile with hadolint, checks that every path it copies from the build stage exists in this
   checkout's build, and that its run stage installs exactly the Debian packages holding the libraries `ldd`
   lists for the binary and the ONNX Runtime library (plus ca-certificates). The binary given may be a debug
   build's (what `make test` has built): the Containerfile's `.build/release/` paths are then looked for in
   that build's folder, and its libraries are a release build's plus the Swift runtime's debug support
   library, which the run stage copies with the rest of the runtime. `make deploy-check DEPLOY_BUILD=release`
   checks a release build itself.
5. Shows that the checks can fail: broken copies of the objects must each be caught.

Prints one line per finding and a summary; exit status 0 only when nothing failed.
"""

import argparse
import copy
import json
import os
import re
import subprocess
import sys
import tempfile

import jsonschema
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OVERLAY = os.path.join(ROOT, "deploy/kubernetes/overlays/example")
KEDA = os.path.join(ROOT, "Tests/Data/keda")
KUBERNETES_VERSION = "1.32"
WORKLOADS = {"Deployment", "Job", "StatefulSet", "DaemonSet"}
# Beyond the libraries: certificates to reach S3 and the alert API over HTTPS.
EXTRA_PACKAGES = {"ca-certificates"}


def render(kubectl):
    result = subprocess.run([kubectl, "kustomize", OVERLAY], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"FAIL render: `{kubectl} kustomize` failed (kustomize v5 is needed: kubectl 1.27 or later): "
                 f"{result.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def name(obj):
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


# MARK: Schemas

def kubernetes_errors(objects, validate):
    """kubernetes-validate on the Kubernetes kinds, in one run; (object, message) for each failure."""
    core = [o for o in objects if not o.get("apiVersion", "").startswith("keda.sh/")]
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        yaml.safe_dump_all(core, f)
        f.flush()
        result = subprocess.run([validate, "--strict", "--quiet", "-k", KUBERNETES_VERSION, f.name],
                                capture_output=True, text=True)
        output = (result.stdout + result.stderr).replace(f.name, "").strip()
    errors = []
    for line in output.splitlines():
        if line.startswith(("ERROR", "WARN")) or "Couldn't find schema" in line:
            match = re.search(r"resource (\S+)", line)
            errors.append((match.group(1) if match else "kubernetes-validate", line.strip()))
    if result.returncode != 0 and not errors:
        errors.append(("kubernetes-validate", output or f"exit {result.returncode}"))
    return errors


def strict(schema):
    """The CRD schema with unknown fields refused wherever it lists properties (Kubernetes would prune them)."""
    if isinstance(schema, dict):
        schema = {k: strict(v) for k, v in schema.items()}
        if ("properties" in schema and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


def keda_schemas():
    schemas = {}
    for file in sorted(os.listdir(KEDA)):
        if not file.endswith(".yaml"):
            continue
        with open(os.path.join(KEDA, file)) as f:
            crd = yaml.safe_load(f)
        kind = crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            api = f"{crd['spec']['group']}/{version['name']}"
            schemas[(api, kind)] = strict(version["schema"]["openAPIV3Schema"])
    return schemas


def keda_errors(objects, schemas):
    errors = []
    for obj in objects:
        if not obj.get("apiVersion", "").startswith("keda.sh/"):
            continue
        schema = schemas.get((obj["apiVersion"], obj["kind"]))
        if schema is None:
            errors.append((name(obj), f"no KEDA CRD in {KEDA} for {obj['apiVersion']} {obj['kind']}"))
            continue
        for error in jsonschema.Draft4Validator(schema).iter_errors(obj):
            where = "/".join(str(p) for p in error.absolute_path) or "(object)"
            errors.append((name(obj), f"{where}: {error.message}"))
    return errors


# MARK: Vigil's rules

def pod_spec(obj):
    return obj.get("spec", {}).get("template", {}).get("spec", {}) if obj.get("kind") in WORKLOADS else None


PROBES = {"readinessProbe": "/readyz", "livenessProbe": "/healthz"}


def worker_stage(deployment):
    """The stage a Deployment's workers run (`worker --pipeline NAME`), or None."""
    if not deployment:
        return None
    for container in pod_spec(deployment).get("containers", []):
        args = container.get("args", [])
        if args[:1] == ["worker"] and "--pipeline" in args[:-1]:
            return args[args.index("--pipeline") + 1]
    return None


def policy_errors(objects):
    errors = []
    by_kind = {}
    for obj in objects:
        by_kind.setdefault(obj.get("kind"), {})[obj["metadata"]["name"]] = obj
    secrets = {n: set(o.get("data", {})) | set(o.get("stringData", {})) for n, o in by_kind.get("Secret", {}).items()}
    configs = {n: set(o.get("data", {})) for n, o in by_kind.get("ConfigMap", {}).items()}
    budgets = list(by_kind.get("PodDisruptionBudget", {}).values())

    for obj in objects:
        spec = pod_spec(obj)
        if spec is None:
            continue
        for container in spec.get("containers", []) + spec.get("initContainers", []):
            where = f"{name(obj)} container {container.get('name')}"
            requests = container.get("resources", {}).get("requests", {})
            for resource in ("cpu", "memory"):
                if resource not in requests:
                    errors.append((where, f"names no {resource} request (resources.requests.{resource})"))
            if obj["kind"] == "Deployment":
                for probe, path in PROBES.items():
                    if probe not in container:
                        errors.append((where, f"has no {probe}"))
                    elif container[probe].get("httpGet", {}).get("path") != path:
                        errors.append((where, f"its {probe} does not ask {path}, Vigil's endpoint for it"))
            for source in container.get("envFrom", []):
                for ref, known in (("configMapRef", configs), ("secretRef", secrets)):
                    if ref in source and source[ref]["name"] not in known:
                        errors.append((where, f"reads the {ref[:-3]} {source[ref]['name']}, which is not rendered"))
            for variable in container.get("env", []):
                for ref, known in (("secretKeyRef", secrets), ("configMapKeyRef", configs)):
                    key_ref = variable.get("valueFrom", {}).get(ref)
                    if key_ref and key_ref["key"] not in known.get(key_ref["name"], set()):
                        errors.append((where, f"reads {key_ref['name']}.{key_ref['key']}, which is not rendered"))
        if obj["kind"] == "Deployment":
            labels = obj["spec"]["template"]["metadata"].get("labels", {})
            covered = any(all(labels.get(k) == v for k, v in b["spec"]["selector"].get("matchLabels", {}).items())
                          for b in budgets)
            if not covered:
                errors.append((name(obj), "no PodDisruptionBudget selects its pods"))

    scalers = {}
    for scaled in by_kind.get("ScaledObject", {}).values():
        target = scaled["spec"]["scaleTargetRef"]["name"]
        scalers.setdefault(target, []).append(scaled)
        if target not in by_kind.get("Deployment", {}):
            errors.append((name(scaled), f"scales {target}, which is not a Deployment of the render"))
        if "minReplicaCount" not in scaled["spec"]:
            errors.append((name(scaled), "names no minReplicaCount: say whether the stage may scale to zero"))
        stage = worker_stage(by_kind.get("Deployment", {}).get(target))
        for trigger in scaled["spec"].get("triggers", []):
            if trigger.get("type") == "postgresql":
                query = trigger.get("metadata", {}).get("query", "")
                if "datum_queue" not in query:
                    errors.append((name(scaled), "its PostgreSQL trigger does not count Vigil's datum_queue"))
                elif stage and f"pipeline = '{stage}'" not in query:
                    errors.append((name(scaled), f"its query does not count the backlog of {stage}, "
                                                 f"the stage {target} runs (pipeline = '{stage}')"))
                auth = trigger.get("authenticationRef", {}).get("name")
                if auth not in by_kind.get("TriggerAuthentication", {}):
                    errors.append((name(scaled), f"its trigger authenticates with {auth}, which is not rendered"))
    for deployment in by_kind.get("Deployment", {}).values():
        stage = worker_stage(deployment)
        if stage and not scalers.get(deployment["metadata"]["name"]):
            errors.append((name(deployment), f"runs the {stage} stage's workers, but no ScaledObject scales them"))
    for auth in by_kind.get("TriggerAuthentication", {}).values():
        for ref in auth["spec"].get("secretTargetRef", []):
            if ref["key"] not in secrets.get(ref["name"], set()):
                errors.append((name(auth), f"reads {ref['name']}.{ref['key']}, which is not rendered"))
    return errors


# MARK: Containerfile

def containerfile_errors(hadolint, binary, text):
    errors = []
    with tempfile.NamedTemporaryFile("w", suffix=".Containerfile") as f:
        f.write(text)
        f.flush()
        lint = subprocess.run([hadolint, "--no-color", f.name], capture_output=True, text=True)
    if lint.returncode != 0:
        errors.append(("Containerfile", "hadolint: " + (lint.stdout + lint.stderr).replace(f.name, "").strip()))
    text = re.sub(r"\\\n", " ", text)
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    stages = [i for i, line in enumerate(lines) if line.upper().startswith("FROM ")]
    build_dir = "/"
    for line in lines[stages[0]:stages[1]]:
        if line.upper().startswith("WORKDIR "):
            build_dir = line.split()[1]
        elif line.upper().startswith("COPY ") and "--from" not in line.lower():
            for source in line.split()[1:-1]:
                if not os.path.exists(os.path.join(ROOT, source)):
                    errors.append(("Containerfile", f"copies {source} from the context, which has none"))
                elif not context_keeps(source):
                    errors.append(("Containerfile", f"copies {source}, which .dockerignore leaves out"))
    toolchain_libs = swift_runtime_folder()
    copied_runtime = False
    for line in lines[stages[1]:]:
        if not line.upper().startswith("COPY --FROM=BUILD "):
            continue
        sources = line.split()[2:-1]
        for source in sources:
            if source.startswith("/usr/lib/swift/linux/"):
                copied_runtime = True
                continue
            if not source.startswith(build_dir + "/"):
                errors.append(("Containerfile", f"copies {source}, outside the build stage's {build_dir}"))
                continue
            local = os.path.join(ROOT, in_build(source[len(build_dir) + 1:], binary))
            if not os.path.exists(local):
                errors.append(("Containerfile", f"copies {source}, but {local} is not in this checkout's build"))
    run_stage = " ".join(lines[stages[1]:])
    match = re.search(r"apt-get install ([^&]*)", run_stage)
    installed = {word for word in (match.group(1).split() if match else []) if not word.startswith("-")}

    needed, missing_runtime = set(), []
    onnxruntime = os.path.join(ROOT, ".deps/onnxruntime/lib/libonnxruntime.so.1")
    for library in ldd(binary) + ldd(onnxruntime):
        if toolchain_libs and os.path.realpath(library).startswith(toolchain_libs):
            if not copied_runtime:
                missing_runtime.append(library)
            continue
        package = debian_package(library)
        if package is None:
            errors.append(("Containerfile", f"no Debian package holds {library}, which ldd lists"))
        else:
            needed.add(package)
    for library in missing_runtime:
        errors.append(("Containerfile", f"the run stage lacks the Swift runtime library {library}"))
    for package in sorted(needed - installed):
        errors.append(("Containerfile", f"the run stage does not install {package}, which ldd needs"))
    for package in sorted(installed - needed - EXTRA_PACKAGES):
        errors.append(("Containerfile", f"the run stage installs {package}, which ldd does not list"))
    return errors, sorted(needed)


def in_build(path, binary):
    """`path` (relative to the checkout) with a release build's folder replaced by the folder of `binary`'s
    build, when `binary` is another configuration's (a debug build's): the same products are in both."""
    release = ".build/release/"
    if not path.startswith(release):
        return path
    folder = os.path.relpath(os.path.dirname(os.path.realpath(binary)), os.path.realpath(ROOT))
    return os.path.join(folder, path[len(release):])


def context_keeps(path):
    """Whether .dockerignore (an exclude-all with `!` exceptions, as Vigil's is) lets `path` into the context."""
    with open(os.path.join(ROOT, ".dockerignore")) as f:
        rules = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    kept = True
    for rule in rules:
        negated = rule.startswith("!")
        pattern = rule.lstrip("!")
        if pattern == "*" or path == pattern or path.startswith(pattern.rstrip("/") + "/"):
            kept = negated
    return kept


def swift_runtime_folder():
    result = subprocess.run(["swift", "-print-target-info"], capture_output=True, text=True)
    if result.returncode != 0:
        return None
    paths = json.loads(result.stdout).get("paths", {}).get("runtimeLibraryPaths", [])
    return os.path.realpath(paths[0]) + "/" if paths else None


def ldd(path):
    """The libraries `ldd` resolves for `path`, as it names them."""
    result = subprocess.run(["ldd", path], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"FAIL ldd {path}: {result.stderr.strip()}")
    libraries = []
    for line in result.stdout.splitlines():
        if "not found" in line:
            sys.exit(f"FAIL ldd {path}: {line.strip()}")
        match = re.search(r"=>\s+(\S+)\s+\(", line)
        if match:
            libraries.append(match.group(1))
    return libraries


def debian_package(library):
    """The package dpkg says holds `library` (under its name, its target, or either with /usr merged)."""
    names = []
    for path in (library, os.path.realpath(library)):
        names += [path, path[4:] if path.startswith("/usr/lib/") else "/usr" + path]
    for candidate in names:
        result = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if result.returncode == 0:
            return result.stdout.split(":")[0].strip()
    return None


# MARK: The checks can fail

def broken_copies(objects):
    """(what was broken, the objects with it broken): each must be caught."""
    def find(kind, name_prefix=""):
        return next(i for i, o in enumerate(objects)
                    if o["kind"] == kind and o["metadata"]["name"].startswith(name_prefix))

    def broken(what, change):
        changed = copy.deepcopy(objects)
        change(changed)
        return what, changed

    worker = find("Deployment", "vigil-worker-detect")
    scaled = find("ScaledObject", "vigil-worker-detect")

    def query(o):
        return o[scaled]["spec"]["triggers"][0]["metadata"]

    return [
        broken("a misspelt Deployment field",
               lambda o: o[worker]["spec"].__setitem__("replica", 2)),
        broken("a container without a memory request",
               lambda o: o[worker]["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"].pop("memory")),
        broken("a Deployment without a liveness probe",
               lambda o: o[worker]["spec"]["template"]["spec"]["containers"][0].pop("livenessProbe")),
        broken("a ScaledObject field KEDA does not know",
               lambda o: o[scaled]["spec"].__setitem__("minReplicas", 0)),
        broken("a ScaledObject with a count as text",
               lambda o: o[scaled]["spec"].__setitem__("maxReplicaCount", "ten")),
        broken("a ScaledObject of a Deployment that is not there",
               lambda o: o[scaled]["spec"]["scaleTargetRef"].__setitem__("name", "vigil-worker-nothing")),
        broken("a stage's workers that nothing scales", lambda o: o.pop(scaled)),
        broken("a ScaledObject counting another stage's backlog",
               lambda o: query(o).__setitem__("query", query(o)["query"].replace("'detect'", "'validate'"))),
        broken("a ScaledObject that does not say how few workers it keeps",
               lambda o: o[scaled]["spec"].pop("minReplicaCount")),
        broken("a readiness probe that checks nothing",
               lambda o: o[worker]["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]
               .__setitem__("path", "/")),
    ]


def broken_containerfiles(text):
    """(what was broken, the Containerfile with it broken): each must be caught."""
    return [
        ("a run stage without a library ldd lists", text.replace(" libsqlite3-0", "", 1)),
        ("a run stage with a package ldd does not list", text.replace(" zlib1g", " zlib1g curl", 1)),
        ("a copy of a file the build does not make",
         text.replace("/src/.deps/model/coco.names", "/src/.deps/model/coco.labels", 1)),
        ("a copy of a product the build does not make",
         text.replace("/src/.build/release/vigil ", "/src/.build/release/vigild ", 1)),
        ("a Containerfile hadolint rejects", text.replace("WORKDIR /src", "WORKDIR src", 1)),
        ("a copy of something the context lacks", text.replace("COPY Tests ./Tests", "COPY Specs ./Specs", 1)),
    ]


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kubectl", default="kubectl")
    parser.add_argument("--hadolint", required=True)
    parser.add_argument("--validate", required=True, help="the kubernetes-validate program")
    parser.add_argument("--binary", required=True, help="vigil as built here (release, or debug: see 4. above)")
    args = parser.parse_args(argv)

    objects = render(args.kubectl)
    schemas = keda_schemas()

    def all_errors(objs):
        return kubernetes_errors(objs, args.validate) + keda_errors(objs, schemas) + policy_errors(objs)

    errors = all_errors(objects)
    kinds = sorted({o["kind"] for o in objects})
    print(f"rendered {len(objects)} objects ({', '.join(kinds)}) from {os.path.relpath(OVERLAY, ROOT)}")
    with open(os.path.join(ROOT, "Containerfile")) as f:
        containerfile = f.read()
    image_errors, packages = containerfile_errors(args.hadolint, args.binary, containerfile)
    errors += image_errors
    print(f"Containerfile: the run stage's libraries come from {', '.join(packages)}")
    for what, objs in broken_copies(objects):
        caught = all_errors(objs)
        if caught:
            print(f"ok caught {what}: {caught[0][0]}: {caught[0][1].splitlines()[0][:160]}")
        else:
            errors.append(("self-check", f"{what} was not caught"))
    for what, text in broken_containerfiles(containerfile):
        caught, _ = containerfile_errors(args.hadolint, args.binary, text)
        if caught:
            print(f"ok caught {what}: {caught[0][1].splitlines()[0][:160]}")
        else:
            errors.append(("self-check", f"{what} was not caught"))
    for where, message in errors:
        print(f"FAIL {where}: {message}")
    print(f"deploy-check: {len(objects)} objects, {len(errors)} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
