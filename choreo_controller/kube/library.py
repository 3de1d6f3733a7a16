"""The parts of ``kubernetes_asyncio`` we use - credentials and its connection - without its generated client.

``import kubernetes_asyncio.config`` runs the package's ``__init__``, which imports every generated API and
model class (``kubernetes_asyncio.client``: hundreds of modules, about a third of the controller's idle
memory; ``hack/bench/bench_imports.py`` prints it), because ``kube_config`` does
``from kubernetes_asyncio.client import ApiClient, Configuration``. We send raw requests (``kube.transport``)
and need none of those classes: the kubeconfig/in-cluster loaders, ``Configuration`` and the
``RESTClientObject`` (SSL context and connector) are what we use.

So the two package modules are registered as plain namespaces over their real directories before the
loaders are imported; their submodules load as usual. ``ApiClient`` - named by ``kube_config`` only for
``new_client_from_config``, which we never call - imports the real class when called. If the real
packages are already loaded (a test imported them), they are used as they are.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from typing import Any


def _namespace(name: str, path: str) -> None:
    if name not in sys.modules:
        module = types.ModuleType(name, "kubernetes_asyncio without its generated client (choreo_controller)")
        module.__path__ = [path]
        sys.modules[name] = module


def _client_attribute(name: str) -> Any:
    if name == "Configuration":
        from kubernetes_asyncio.client.configuration import Configuration  # noqa: PLC0415

        return Configuration
    if name == "ApiClient":
        return _api_client
    raise AttributeError(f"module 'kubernetes_asyncio.client' (light) has no attribute {name!r}")


def _api_client(*args: Any, **kwargs: Any) -> Any:
    from kubernetes_asyncio.client.api_client import ApiClient  # noqa: PLC0415 - never on our path

    return ApiClient(*args, **kwargs)


_spec = importlib.util.find_spec("kubernetes_asyncio")
if _spec is None or not _spec.submodule_search_locations:
    raise ImportError("kubernetes_asyncio is not installed")
_root = _spec.submodule_search_locations[0]
_namespace("kubernetes_asyncio", _root)
_namespace("kubernetes_asyncio.client", f"{_root}/client")
if not hasattr(sys.modules["kubernetes_asyncio.client"], "Configuration"):
    sys.modules["kubernetes_asyncio.client"].__getattr__ = _client_attribute  # type: ignore[method-assign]

from kubernetes_asyncio.client.configuration import Configuration  # noqa: E402
from kubernetes_asyncio.client.rest import RESTClientObject  # noqa: E402
from kubernetes_asyncio.config import load_incluster_config, load_kube_config  # noqa: E402

__all__ = ["Configuration", "RESTClientObject", "load_incluster_config", "load_kube_config"]
