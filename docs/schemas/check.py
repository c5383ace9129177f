#!/usr/bin/env python3
"""Validate JSON files against one of Vigil's record schemas (JSON Schema draft 2020-12), or another schema
that names its draft in `$schema` (Pachyderm's pipeline-spec schema is draft-04).

    python3 docs/schemas/check.py SCHEMA FILE...
    python3 docs/schemas/check.py --examples SCHEMA [FILE...]   # also check the schema's own `examples`

Prints `ok FILE` or, per error, `FAIL FILE: <path in the file>: <message>` (the path reads like
`$.detections[0].confidence`). For the detection record it also checks what JSON Schema cannot say:
xMin <= xMax, yMin <= yMax, boxes inside the image, `counts` equal to the tally of `detections`, and
`isoTime` equal to `time`. Exit status: 0 when every file is valid, 1 when any is not, 2 on bad usage,
an unreadable file or an invalid schema. Needs the `jsonschema` package (4.x).
"""

import datetime
import json
import sys
from collections import Counter

try:
    import jsonschema
except ImportError:
    sys.exit("check.py needs the jsonschema package: pip install 'jsonschema>=4'")


def json_path(parts):
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def describe(error):
    """The error's message; for `not`, which would repeat the whole instance, the rule broken instead."""
    if error.validator == "not":
        return f"must not match {json.dumps(error.validator_value, ensure_ascii=False)}"
    return error.message


def detection_invariants(record):
    """Cross-field rules of the detection record; yields (path, message). Assumes the schema passed."""
    image = record["image"]
    for index, box in enumerate(record["detections"]):
        at = ["detections", index]
        if box["xMin"] > box["xMax"]:
            yield at, f"xMin {box['xMin']} is greater than xMax {box['xMax']}"
        if box["yMin"] > box["yMax"]:
            yield at, f"yMin {box['yMin']} is greater than yMax {box['yMax']}"
        for key, limit in (("xMin", "width"), ("xMax", "width"), ("yMin", "height"), ("yMax", "height")):
            if box[key] > image[limit]:
                yield at + [key], f"{box[key]} is outside the image (image.{limit} is {image[limit]})"
    tally = dict(Counter(box["label"] for box in record["detections"]))
    if tally != record["counts"]:
        yield ["counts"], f"{record['counts']} is not the tally of detections {tally}"
    iso = datetime.datetime.fromtimestamp(record["time"], datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if record["isoTime"] != iso:
        yield ["isoTime"], f"{record['isoTime']!r} is not time {record['time']} ({iso})"


def check(validator, invariants, label, instance):
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    problems = [(list(e.absolute_path), describe(e)) for e in errors]
    if not problems and invariants:
        problems = list(invariants(instance))
    for path, message in problems:
        print(f"FAIL {label}: {json_path(path)}: {message}")
    if not problems:
        print(f"ok {label}")
    return not problems


def main(argv):
    examples = "--examples" in argv
    args = [a for a in argv if a != "--examples"]
    if not args or args[0] in ("-h", "--help") or (len(args) < 2 and not examples):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    schema_path, files = args[0], args[1:]
    try:
        with open(schema_path, encoding="utf-8") as f:
            schema = json.load(f)
        draft = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        draft.check_schema(schema)
    except (OSError, ValueError, jsonschema.SchemaError) as error:
        print(f"bad schema {schema_path}: {error}", file=sys.stderr)
        return 2
    validator = draft(schema, format_checker=draft.FORMAT_CHECKER)
    invariants = detection_invariants if schema.get("$id", "").endswith("/detection.json") else None

    valid, status = True, 0
    if examples:
        for index, example in enumerate(schema.get("examples", [])):
            valid &= check(validator, invariants, f"{schema_path}#/examples/{index}", example)
    for path in files:
        try:
            with open(path, encoding="utf-8") as f:
                instance = json.load(f)
        except (OSError, ValueError) as error:
            print(f"FAIL {path}: cannot read JSON: {error}")
            status = 2
            continue
        valid &= check(validator, invariants, path, instance)
    return status or (0 if valid else 1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
