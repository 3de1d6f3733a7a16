#!/usr/bin/env python3
"""Mint relay certificates for local use: a gateway CA + server certificate, an agent CA + one client
certificate per plane.

    hack/gen-certs.py --out /tmp/relay-pki --gateway-dns localhost --gateway-ip 127.0.0.1 --plane default
    hack/gen-certs.py --out /tmp/relay-pki --reuse --plane default --generation 1.x   # a WorkflowPlane agent

Writes (keys 0600):
  gateway-ca.crt            the CA agents pin (--gateway-ca)
  gateway.crt/.key          the gateway's server certificate (serverAuth)
  agent-ca.crt              a BuildPlane's spec.clusterAgent.clientCA (value, or a Secret key)
  agent-<plane>.crt/.key    per plane: clientAuth, URI SAN openchoreo://buildplane/<plane> (--generation
                            1.x: openchoreo://workflowplane/<plane>, files agent-wp-<plane>.crt/.key)
and prints a BuildPlane (1.x: WorkflowPlane) snippet carrying agent-ca.crt inline. The CA keys are written
too (so more agents can be minted later with --reuse); keep them off shared machines. ECDSA P-256, like
hack/localcluster.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from localcluster.pki import CA, cert_pem, write_pair

from choreo_controller.api import planes

#: --generation -> (URI SAN prefix of the agent certificates, file prefix, namespaced plane kind)
GENERATIONS = {
    g.name: (
        f"openchoreo://{g.identity}/",
        "agent-" if g is planes.BUILD_PLANE_ERA else "agent-wp-",
        kind.kind,
    )
    for g in planes.GENERATIONS
    for kind in planes.PLANE_KINDS
    if kind.generation is g and kind.namespaced
}


def _load(directory: Path, stem: str) -> CA | None:
    crt, key = directory / f"{stem}.crt", directory / f"{stem}.key"
    if not (crt.exists() and key.exists()):
        return None
    cert = x509.load_pem_x509_certificate(crt.read_bytes())
    private = serialization.load_pem_private_key(key.read_bytes(), password=None)
    return CA(private, cert)  # type: ignore[arg-type]


def _ca(directory: Path, stem: str, name: str, days: int, *, reuse: bool) -> CA:
    existing = _load(directory, stem) if reuse else None
    if existing is not None:
        return existing
    ca = CA.new(name, days=days)
    ca.write(directory, stem)
    return ca


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--gateway-dns", action="append", default=[], help="gateway DNS name (repeatable)")
    parser.add_argument("--gateway-ip", action="append", default=[], help="gateway IP address (repeatable)")
    parser.add_argument("--plane", action="append", default=[], help="planeID to mint an agent cert for")
    parser.add_argument("--days", type=int, default=30, help="validity of the leaf certificates")
    parser.add_argument("--reuse", action="store_true", help="keep existing CAs in --out (mint leaves only)")
    parser.add_argument(
        "--generation",
        choices=sorted(GENERATIONS),
        default="0.17",
        help="agents of BuildPlanes or WorkflowPlanes",
    )
    args = parser.parse_args(argv)
    if not args.gateway_dns and not args.gateway_ip:
        args.gateway_dns, args.gateway_ip = ["localhost"], ["127.0.0.1"]
    out: Path = args.out
    now = dt.datetime.now(dt.UTC)
    until = now + dt.timedelta(days=args.days)

    gateway_ca = _ca(out, "gateway-ca", "choreo-relay-gateway-ca", args.days * 4, reuse=args.reuse)
    cert, key = gateway_ca.issue(
        (args.gateway_dns or args.gateway_ip)[0],
        dns=tuple(args.gateway_dns),
        ips=tuple(args.gateway_ip),
        server=True,
        not_after=until,
    )
    write_pair(out, "gateway", cert, key)

    agent_ca = _ca(out, "agent-ca", "choreo-relay-agent-ca", args.days * 4, reuse=args.reuse)
    uri, stem, kind = GENERATIONS[args.generation]
    for plane in args.plane:
        cert, key = agent_ca.issue(f"{stem}{plane}", uris=(uri + plane,), client=True, not_after=until)
        write_pair(out, f"{stem}{plane}", cert, key)

    ca_pem = cert_pem(agent_ca.cert).decode()
    snippet = "\n".join(f"        {line}" for line in ca_pem.strip().splitlines())
    print(f"wrote certificates to {out}", file=sys.stderr)
    for plane in args.plane or ["default"]:
        print(
            f"---\napiVersion: openchoreo.dev/v1alpha1\nkind: {kind}\nmetadata:\n  name: {plane}\n"
            f"  namespace: default\nspec:\n  planeID: {plane}\n  clusterAgent:\n    clientCA:\n"
            f"      value: |\n{snippet}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
