"""choreo-controller: OpenChoreo's Workflow engine, in Python.

Package layers (enforced by import-linter, see ``.importlinter``)::

    contracts <- logs|metrics <- api <- schema|render <- reconcilers|runtime <- kube <- relay <- app <- cli

``contracts`` holds the seams every other layer talks through; ``kube`` is the only importer of
``kubernetes_asyncio``; the pure core (``schema``, ``render``) does no IO at all.
"""

__version__ = "0.1.0"
