"""A controller process for the two-process leader-election tests (a harness, not a test).

It runs a real ``Manager`` with leader election against a real apiserver: an informer on the ConfigMaps
labelled ``role=seed`` in ``--namespace`` and one controller whose reconcile server-side-applies
``<seed>-written`` with ``data.writer = --identity`` and an increasing ``data.seq``, then asks to be
requeued after 0.2 s. So the leader writes about five times a second and a test watching ``*-written``
sees which process writes, and when it stops.

Exit codes: 0 after a graceful stop (SIGTERM/SIGINT: lease released), 1 when leadership was lost.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from choreo_controller import kube, logs
from choreo_controller.api.resources import CONFIG_MAP
from choreo_controller.contracts import ObjectKey, Result
from choreo_controller.metrics import Metrics
from choreo_controller.runtime.clock import RealClock
from choreo_controller.runtime.handlers import enqueue
from choreo_controller.runtime.leader import LeaderConfig, LeadershipLost
from choreo_controller.runtime.manager import Manager


class Writer:
    """Reconciles a seed ConfigMap by recording who wrote, and how often."""

    def __init__(self, api: kube.KubeClient, identity: str) -> None:
        self._api = api
        self._identity = identity
        self._seq = 0

    async def reconcile(self, key: ObjectKey) -> Result:
        self._seq += 1
        written = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{key.name}-written", "namespace": key.namespace},
            "data": {"writer": self._identity, "seq": str(self._seq)},
        }
        await self._api.apply(CONFIG_MAP, written, field_manager="leader-proc")
        return Result(requeue_after=0.2)


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--lease", required=True)
    parser.add_argument("--identity", required=True)
    args = parser.parse_args(argv)
    logs.configure("INFO")
    async with kube.connect(args.kubeconfig, qps=20, burst=40) as api:
        manager = Manager(
            api,
            clock=RealClock(),
            metrics=Metrics(),
            leader_election=LeaderConfig(args.lease, args.namespace, args.identity),
            lease_api=kube.KubeClient(api.transport.unthrottled()),
        )
        seeds = manager.add_informer(CONFIG_MAP, namespace=args.namespace, label_selector="role=seed")
        controller = manager.new_controller("writer", Writer(api, args.identity))
        seeds.add_handler(enqueue(controller.queue))
        manager.add_controller(controller)
        try:
            await manager.run(handle_signals=True)
        except LeadershipLost:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
