"""Auto-build from Git webhooks (SPEC section 6): the logic behind ``POST /api/v1alpha1/autobuild``.

* ``repourl``   - repository URL normalisation and the provider a public host implies;
* ``providers`` - provider detection, signature/token checks, push payload parsing (pure);
* ``matching``  - the workflow parameter mapping, which Components a push builds, the WorkflowRun (pure);
* ``sources``   - where Components and Workflows are read: the controller's caches or the apiserver;
* ``receiver``  - ``AutoBuildReceiver.handle(headers, body) -> Reply``: the steps, with IO through
  ``KubeApi`` (the Secret, the runs) and a ``Source``. The HTTP listener is
  ``choreo_controller.app_autobuild`` (this layer may not import aiohttp).
"""

from choreo_controller.reconcilers.autobuild.receiver import MAX_BODY, SECRET_NAME, AutoBuildReceiver, Reply
from choreo_controller.reconcilers.autobuild.sources import ApiSource, CachedSource, Source

__all__ = [
    "MAX_BODY",
    "SECRET_NAME",
    "ApiSource",
    "AutoBuildReceiver",
    "CachedSource",
    "Reply",
    "Source",
]
