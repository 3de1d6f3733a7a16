"""Real Kubernetes planes as local processes, for the tests, the benchmarks and the demo.

A *control plane* is etcd + kube-apiserver + kube-controller-manager (garbage collection and namespace
lifecycle are real) with our CRDs installed. A *build plane* adds kube-scheduler, kwok (fake node, simulated
pods, a stand-in for the kubelet's volume mounts), Argo's workflow-controller, a dynamic volume provisioner
with a default StorageClass, and the External Secrets Operator with the ClusterSecretStore ``default``
(``localcluster.buildplane``). Binaries come from ``hack/build-binaries.sh``; nothing here downloads
anything. Everything listens on 127.0.0.1 with free ports.

Usage::

    with start_control_plane(workdir) as cp, start_build_plane(workdir2) as bp:
        cp.kubectl("get", "crd")
"""

from localcluster.binaries import BinariesMissing, assets_dir, bin_dir
from localcluster.buildplane import start_build_plane
from localcluster.plane import Plane, start_control_plane

__all__ = ["BinariesMissing", "Plane", "assets_dir", "bin_dir", "start_build_plane", "start_control_plane"]
