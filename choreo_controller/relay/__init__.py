"""The websocket relay between planes (SPEC section 7): the control plane reaches build planes it cannot dial.

Control-plane side:
* ``gateway``   - aiohttp agent listener (mTLS), admission, liveness; owns the ``registry`` of sessions;
* ``transport`` - ``RelayTransport``: ``contracts.Transport`` through the agents, so
  ``KubeClient(RelayTransport)`` (``Gateway.kube_api``) is a drop-in build-plane ``KubeApi``;
* ``buildplanes`` - ``RelayBuildPlanes``: the engine's ``BuildPlanes`` port over those APIs (an API per
  plane object, relayed informers per planeID and clientCA), what ``controller`` runs in relay mode;
* ``internal`` / ``remote`` - the same over mTLS HTTP, for a controller outside the gateway's process;
* ``identity``, ``planes``, ``tls`` - who may connect: certificate -> planeID -> plane objects and clientCAs;
* ``status``    - ``BuildPlane.status.agentConnection``.

Build-plane side:
* ``agent``     - dials out, reconnects with backoff, one task per request or watch;
* ``executor``  - runs what ``authz`` (default deny, over ``requestinfo``'s canonical parse) allows.

Shared: ``protocol`` (the versioned envelope), ``session`` (the gateway's end of one connection).
``THREAT_MODEL.md`` at the repository root lists each threat, its mitigation and its test.
"""
