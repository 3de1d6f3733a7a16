"""Generates choreo_controller/render/shapes.json: where the kinds a Workflow renders have array fields.

The renderer turns a string that parses as a JSON array into a list exactly where the target field is an
array (a container's ``command``/``args``...) and leaves it a string everywhere else (shared/conformance,
"strings that parse as JSON arrays"). Which fields are arrays comes from the real definitions, never from
a hand-written list: Argo's JSON schema (``api/jsonschema/schema.json``), Kubernetes' OpenAPI document
(``api/openapi-spec/swagger.json``) and External Secrets' CRDs, all from the Go module downloads that
``hack/build-binaries.sh`` makes (pinned in ``hack/tools/*/go.mod``, ``hack/versions.env``).

Output: ``{"kinds": {"<apiVersion> <Kind>": id}, "types": [node, ...]}``; a node is
``{"f": {field: id}, "i": id, "v": id}`` (fields of an object, the items of an array, the values of a map);
``-1`` is a scalar (or a value of unknown shape). Only what leads to an array is kept.

Usage: hack/gen-render-shapes.py [--check]   (--check: exit 1 if the committed file is out of date)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from choreo_controller.api import buildkinds  # noqa: E402 - after the path set-up

OUT = ROOT / "choreo_controller" / "render" / "shapes.json"
SCALAR = -1


def module_dir(tool: str, module: str) -> Path:
    out = subprocess.run(
        ["go", "list", "-m", "-f", "{{.Dir}}", module],
        cwd=ROOT / "hack" / "tools" / tool,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if not out:
        raise SystemExit(f"gen-render-shapes: {module} is not downloaded (run hack/build-binaries.sh)")
    return Path(out)


def eso_dir() -> Path:
    versions = dict(
        line.split("=", 1)
        for line in (ROOT / "hack" / "versions.env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    out = subprocess.run(
        [
            "go",
            "mod",
            "download",
            "-json",
            f"github.com/external-secrets/external-secrets@{versions['ESO_VERSION']}",
        ],
        cwd=ROOT / "hack" / "tools" / "argo",
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return Path(json.loads(out)["Dir"])


class Shapes:
    def __init__(self) -> None:
        self.types: list[dict[str, Any]] = []
        self.ids: dict[str, int] = {}  # definition name (or inline content) -> id

    def shape(self, schema: dict[str, Any], definitions: dict[str, Any], key: str | None = None) -> int:
        ref = schema.get("$ref")
        if ref:
            name = ref.rsplit("/", 1)[-1]
            return self.shape(definitions[name], definitions, f"def:{id(definitions)}:{name}")
        if key is None:
            key = "inline:" + json.dumps(schema, sort_keys=True)
        if key in self.ids:
            return self.ids[key]
        self.ids[key] = len(self.types)
        node: dict[str, Any] = {}
        self.types.append(node)
        kind = schema.get("type")
        if kind == "array" or "items" in schema:
            node["i"] = self.shape(schema.get("items") or {}, definitions)
        for field, sub in (schema.get("properties") or {}).items():
            child = self.shape(sub, definitions)
            if child != SCALAR:
                node.setdefault("f", {})[field] = child
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            child = self.shape(extra, definitions)
            if child != SCALAR:
                node["v"] = child
        if not node:
            self.ids[key] = SCALAR
            return SCALAR
        return self.ids[key]

    def compact(self, roots: dict[str, int]) -> dict[str, Any]:
        """Only the nodes reachable from the roots, renumbered; empty nodes become scalars."""
        order: dict[int, int] = {}
        stack = sorted(set(roots.values()))
        while stack:
            old = stack.pop()
            if old == SCALAR or old in order:
                continue
            order[old] = len(order)
            node = self.types[old]
            stack.extend(sorted({*node.get("f", {}).values(), node.get("i", SCALAR), node.get("v", SCALAR)}))

        def new(old: int) -> int:
            return order.get(old, SCALAR)

        types: list[dict[str, Any]] = [{} for _ in order]
        for old, index in order.items():
            node = self.types[old]
            out: dict[str, Any] = {}
            fields = {
                name: new(child) for name, child in sorted(node.get("f", {}).items()) if new(child) != SCALAR
            }
            if fields:
                out["f"] = fields
            if "i" in node:
                out["i"] = new(node["i"])
            if new(node.get("v", SCALAR)) != SCALAR:
                out["v"] = new(node["v"])
            types[index] = out
        return {"kinds": {k: new(v) for k, v in sorted(roots.items())}, "types": types}


def crd_versions(path: Path) -> dict[str, dict[str, Any]]:
    crd = yaml.safe_load(path.read_text())
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    return {f"{group}/{v['name']} {kind}": v["schema"]["openAPIV3Schema"] for v in crd["spec"]["versions"]}


def generate() -> dict[str, Any]:
    argo = json.loads(
        (
            module_dir("argo", "github.com/argoproj/argo-workflows/v3") / "api/jsonschema/schema.json"
        ).read_text()
    )
    k8s = json.loads(
        (module_dir("kubernetes", "k8s.io/kubernetes") / "api/openapi-spec/swagger.json").read_text()
    )
    eso = crd_versions(eso_dir() / "config/crds/bases/external-secrets.io_externalsecrets.yaml")
    argo_by_kind = {
        "Workflow": "io.argoproj.workflow.v1alpha1.Workflow",
        "WorkflowTaskResult": "io.argoproj.workflow.v1alpha1.WorkflowTaskResult",
    }
    k8s_by_gvk = {
        (gvk["group"], gvk["version"], gvk["kind"]): name
        for name, schema in k8s["definitions"].items()
        for gvk in schema.get("x-kubernetes-group-version-kind", [])
    }
    shapes, roots = Shapes(), {}
    for row in buildkinds.KINDS:  # what a Workflow may render: the run object and the extra resources
        if row.use not in {buildkinds.RUN, buildkinds.EXTRA}:
            continue
        res = row.resource
        for version in sorted(row.versions):
            api_version = f"{res.group}/{version}" if res.group else version
            key = f"{api_version} {res.kind}"
            if res.group == "argoproj.io" and argo_by_kind.get(res.kind) in argo["definitions"]:
                roots[key] = shapes.shape(
                    {"$ref": "#/definitions/" + argo_by_kind[res.kind]}, argo["definitions"]
                )
            elif (res.group, version, res.kind) in k8s_by_gvk:
                name = k8s_by_gvk[(res.group, version, res.kind)]
                roots[key] = shapes.shape({"$ref": "#/definitions/" + name}, k8s["definitions"])
            elif key in eso:
                roots[key] = shapes.shape(eso[key], {})
    return shapes.compact(roots)


def main() -> int:
    text = json.dumps(generate(), separators=(",", ":"), sort_keys=True) + "\n"
    if "--check" in sys.argv:
        if OUT.read_text() != text:
            print(f"{OUT} is out of date: run hack/gen-render-shapes.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT} ({len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
