"""Auto-build from Git webhooks (SPEC section 6): the logic behind ``POST /api/v1alpha1/autobuild``.

* ``repourl``   - repository URL normalisation and the provider a public host implies;
* ``gitrefs``   - ref names, commits and paths from Git are data: checked before use (pure);
* ``secrets``   - webhook secret scopes: which key authenticates a delivery, which Components it builds;
* ``providers`` - provider detection, signature/token checks, push payload parsing (pure);
* ``matching``  - the workflow parameter mapping, which Components a push builds, the WorkflowRun (pure);
* ``sources``   - where Components, Workflows and the webhook Secret are read: caches (or the apiserver);
* ``receiver``  - ``AutoBuildReceiver.handle(headers, body) -> Reply``: the steps, with IO through
  ``KubeApi`` (the runs only) and the caches. The HTTP listener is
  ``choreo_controller.app_autobuild`` (this layer may not import aiohttp).
"""

from choreo_controller.reconcilers.autobuild.receiver import MAX_BODY, AutoBuildReceiver, Reply
from choreo_controller.reconcilers.autobuild.secrets import Scope
from choreo_controller.reconcilers.autobuild.sources import (
    SECRET_NAME,
    ApiSource,
    CachedSecret,
    CachedSource,
    SecretSource,
    Source,
)

__all__ = [
    "MAX_BODY",
    "SECRET_NAME",
    "ApiSource",
    "AutoBuildReceiver",
    "CachedSecret",
    "CachedSource",
    "Reply",
    "Scope",
    "SecretSource",
    "Source",
]
