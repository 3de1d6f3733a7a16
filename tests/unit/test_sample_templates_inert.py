"""Relay-review finding 2: every shell step of the shipped sample templates treats parameters as data.

Each script is rendered the way Argo (or Tekton) renders it - every ``{{workflow.parameters.X}}`` and
``{{inputs.parameters.X}}`` (Tekton: ``$(params.X)``) replaced by text, in ``env`` values and in the script
alike - with a hostile
value carrying every way text can turn into code in ``sh`` (command substitution, backticks, quote
breaking, newlines, ``;``, ``&&``, ``|``, option injection), and then run under ``sh``. The container is
imitated: the tools (git, buildah, skopeo, npm, sleep) are stubs that record their arguments, and the
volume and ``/tmp`` paths point into a scratch directory. Each injection would create a marker file; none
may exist afterwards. A deliberately vulnerable template shows that the harness does catch execution.
"""

import pathlib
import re
import subprocess

import pytest
import yaml

SAMPLES = pathlib.Path(__file__).resolve().parents[2] / "manifests" / "samples"
TEMPLATE_FILES = [
    *sorted((SAMPLES / "cluster-workflow-templates").glob("*.yaml")),
    SAMPLES / "component" / "cluster-workflow-template-generate-workload.yaml",
    SAMPLES / "demo" / "cluster-workflow-templates.yaml",
]
TEKTON_TASKS = SAMPLES / "tekton" / "tasks.yaml"
PARAMETER = re.compile(
    r"\{\{(?:workflow|inputs)\.parameters\.([A-Za-z0-9_-]+)\}\}|\$\(params\.([A-Za-z0-9_-]+)\)"
)
TEKTON_PATHS = re.compile(r"\$\((?:workspaces\.[a-z0-9-]+\.path|results\.([a-z0-9-]+)\.path)\)")
STUBS = ("git", "buildah", "skopeo", "npm", "sleep")
CONTAINER_TMP = "/tmp/"  # noqa: S108 - the path inside the step's container, relocated below


VECTORS = {  # one at a time: combined, unbalanced quotes would make a mere syntax error of the script
    "command-substitution": "x$(touch {m})",
    "backticks": "x`touch {m}`",
    "double-quote": 'x";touch {m};"',
    "single-quote": "x';touch {m};'",
    "newline": "x\ntouch {m}\n",
    "semicolon": "x;touch {m}",
    "and": "x&&touch {m}",
    "pipe": "x|touch {m}",
    "ifs": "x${{IFS}}$(touch${{IFS}}{m})",
    "option": "--upload-pack=touch {m}",
    "relay-review-branch": "$(id>&2;touch${{IFS}}{m})",
}


def hostile(marks: pathlib.Path, vector: str) -> str:
    return VECTORS[vector].format(m=marks / vector)


def shell_steps():
    """(id, template) for every template that runs a shell; a Tekton step as the Argo script it amounts to."""
    for path in TEMPLATE_FILES:
        for doc in yaml.safe_load_all(path.read_text()):
            for template in doc["spec"]["templates"]:
                body = template.get("script") or template.get("container") or {}
                if body.get("command", [None])[0] == "sh":
                    yield pytest.param(template, id=f"{path.stem}-{template['name']}")
    for task in (d for d in yaml.safe_load_all(TEKTON_TASKS.read_text()) if d["kind"] == "Task"):
        for step in task["spec"]["steps"]:
            env = [e | {"value": _container_path(e["value"])} if "value" in e else e for e in step["env"]]
            script = {"command": ["sh"], "source": step["script"], "env": env}
            yield pytest.param(
                {"name": step["name"], "script": script}, id=f"tekton-{task['metadata']['name']}"
            )


def _container_path(text: str) -> str:
    """Tekton's workspace and result paths, as the paths the harness relocates into its scratch directory."""
    return TEKTON_PATHS.sub(lambda m: f"/tmp/{m.group(1)}" if m.group(1) else "/mnt/vol", text)  # noqa: S108


def render(text: str, value: str) -> str:
    return PARAMETER.sub(lambda _: value, text)


def run_step(template, value: str, tmp: pathlib.Path):
    """Render ``template`` with ``value`` for every parameter and run its shell; returns the tool calls."""
    body = template.get("script") or template["container"]
    scratch, bin_dir, calls = tmp / "fs", tmp / "bin", tmp / "calls"
    for d in (scratch / "vol" / "source", scratch / "tmp", bin_dir, calls):
        d.mkdir(parents=True, exist_ok=True)
    for tool in STUBS:  # one file per call: the tool and its arguments, NUL-separated
        stub = bin_dir / tool
        stub.write_text(f'#!/bin/sh\nprintf "%s\\0" "{tool}" "$@" > "$(mktemp "{calls}/call.XXXXXX")"\n'
                        'if [ "$1" = rev-parse ]; then echo 0123456789abcdef0123456789abcdef01234567; fi\n')  # fmt: skip
        stub.chmod(0o755)

    # The container's paths are relocated in the template itself, before any parameter is rendered into it.
    def relocate(text: str) -> str:
        return text.replace("/mnt/vol", str(scratch / "vol")).replace(
            CONTAINER_TMP, str(scratch / "tmp") + "/"
        )

    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(scratch)}
    env |= {e["name"]: render(relocate(str(e["value"])), value) for e in body.get("env", []) if "value" in e}
    script = render(relocate(body["source"] if "source" in body else body["args"][0]), value)
    prelude = 'cd() { command cd "$@" 2>/dev/null || true; }\n'  # the container's directories, imitated
    done = subprocess.run(  # noqa: S603 - running the rendered script is the point of the test
        ["sh", "-c", prelude + script],  # noqa: S607 - the shell the images run, from PATH
        env=env,
        cwd=scratch,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return [f.read_text().split("\0")[:-1] for f in sorted(calls.iterdir())], done


@pytest.mark.parametrize("vector", sorted(VECTORS))
@pytest.mark.parametrize("template", list(shell_steps()))
def test_hostile_parameters_never_execute(template, vector, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()

    _, done = run_step(template, hostile(marks, vector), tmp_path)

    assert [] == sorted(p.name for p in marks.iterdir())
    # Not vacuous: the script ran (no syntax error) to its end, or refused the value itself.
    assert done.returncode == 0 or "refusing" in done.stderr, done.stderr


@pytest.mark.parametrize("step", ["checkout-source-checkout", "tekton-checkout-source"])
def test_the_checkout_step_clones_the_hostile_branch_as_a_branch(step, tmp_path):
    checkout = next(p.values[0] for p in shell_steps() if p.id == step)
    marks = tmp_path / "marks"
    marks.mkdir()
    value = hostile(marks, "relay-review-branch")

    calls, _ = run_step(checkout, value, tmp_path)

    clone = next(args for args in calls if "clone" in args)
    assert clone[clone.index("--branch") + 1] == value
    assert clone[clone.index("--") + 1] == value  # the repository URL, after the end of options


@pytest.mark.parametrize(
    "vector", ["command-substitution", "backticks", "double-quote", "ifs", "relay-review-branch"]
)
def test_the_harness_catches_a_spliced_parameter(vector, tmp_path):
    """The sample checkout step as it was (the branch spliced into a double-quoted shell word)."""
    vulnerable = {
        "name": "old",
        "script": {"command": ["sh"], "source": 'git clone --branch "{{workflow.parameters.branch}}" r'},
    }
    marks = tmp_path / "marks"
    marks.mkdir()

    run_step(vulnerable, hostile(marks, vector), tmp_path)

    assert [vector] == [p.name for p in marks.iterdir()]
