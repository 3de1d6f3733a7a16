"""``choreo_controller/render/shapes.json`` is what the pinned Argo, Kubernetes and ESO definitions say.

The file is generated (``hack/gen-render-shapes.py``) from the Go module downloads ``hack/build-binaries.sh``
makes; a version bump in ``hack/tools/*/go.mod`` or ``hack/versions.env`` must regenerate it.
"""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.cluster  # needs the module downloads of hack/build-binaries.sh

ROOT = Path(__file__).resolve().parents[2]


def test_committed_shapes_match_the_pinned_definitions():
    done = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [sys.executable, str(ROOT / "hack" / "gen-render-shapes.py"), "--check"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert (0, "") == (done.returncode, done.stderr)
