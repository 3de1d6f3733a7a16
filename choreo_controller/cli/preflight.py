"""Checks of what a command's flags point at, before anything starts: one line naming the flag, exit 4.

Every long-running or cluster-facing command (``controller``, ``gateway``, ``agent``, ``runs``) checks
its files first, so a typo is answered with the flag and the file - not a traceback from a library, not
"cannot reach the cluster" for a context that does not exist:

* ``kubeconfig(flag, path, context)`` - resolved as the client resolves it (``kube.config.resolve_source``:
  the flag, ``$KUBECONFIG`` (a list: missing entries are skipped, as kubectl does), in-cluster,
  ``~/.kube/config``); each file must be a readable YAML mapping; the context (given, else
  ``current-context``) must be defined, with its cluster and user; the files those entries name
  (``certificate-authority``, ``client-certificate``, ``client-key``, ``tokenFile``; relative to the
  kubeconfig) must be readable. Returns the context entry (``runs`` takes its namespace).
* ``pem(flag, path, block)`` - a readable file holding a PEM block (``CERTIFICATE``, ``PRIVATE KEY``).
* ``key_pair(cert_flag, cert, key_flag, key)`` - the two load as one TLS identity (the key matches).
* ``agent_identity(flag, cert)`` - an agent certificate names its plane (``openchoreo://buildplane/<id>`` or
  ``openchoreo://workflowplane/<id>``), which also decides the build namespaces the agent serves.

A failed check raises ``ConfigProblem``; ``cli.main`` prints it and exits ``EXIT_CONFIG``. Nothing here
talks to a cluster: reachability is the command's own question (``EXIT_UNREACHABLE``).
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any


class ConfigProblem(Exception):
    """A file or name given by a flag cannot be used; the message names the flag and the file."""


def _read(flag: str, path: str) -> str:
    file = Path(path).expanduser()
    if not file.exists():
        raise ConfigProblem(f"{flag} {path}: no such file")
    if not file.is_file():
        raise ConfigProblem(f"{flag} {path}: not a regular file")
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        raise ConfigProblem(f"{flag} {path}: cannot be read ({why})") from None


def kubeconfig(flag: str, path: str | None, context: str | None = None) -> dict[str, Any]:
    """Check the kubeconfig the client will load; the chosen context entry (empty in-cluster)."""
    from choreo_controller.kube.config import resolve_source  # noqa: PLC0415 - only when a command runs

    kind, source = resolve_source(path)
    if kind == "in-cluster":
        return {}
    if not path:
        flag = "$KUBECONFIG" if os.environ.get("KUBECONFIG") else "the default kubeconfig"
    merged, current = _merged(flag, str(source))
    wanted = context or current
    where = f"{flag} {source}"
    if wanted not in merged["contexts"]:
        if not wanted:
            raise ConfigProblem(f"{where}: no current-context; pass --context")
        known = ", ".join(sorted(merged["contexts"])) or "none"
        origin = "--context" if context else "current-context"
        raise ConfigProblem(f"{origin} {wanted!r}: no such context in {source} (defined: {known})")
    ctx = merged["contexts"][wanted].get("context") or {}
    for section, key in (("clusters", "cluster"), ("users", "user")):
        name = str(ctx.get(key) or "")
        if name not in merged[section]:
            raise ConfigProblem(f"{where}: context {wanted!r} names {key} {name!r}, which is not defined")
        _referenced_files(where, merged[section][name], key)
    return dict(ctx)


def _merged(flag: str, source: str) -> tuple[dict[str, dict[str, Any]], str]:
    """Contexts, clusters and users by name over the files of ``source`` (first wins), and current-context."""
    import yaml  # noqa: PLC0415 - only when a command runs

    files = [p for p in source.split(":") if p]
    existing = [p for p in files if Path(p).expanduser().exists()] if len(files) > 1 else files
    if not existing:
        hint = " (pass --kubeconfig or set KUBECONFIG)" if flag.startswith("the default") else ""
        raise ConfigProblem(f"{flag} {source}: no such file{hint}")
    merged: dict[str, dict[str, Any]] = {"contexts": {}, "clusters": {}, "users": {}}
    current = ""
    for file in existing:
        try:
            config = yaml.safe_load(_read(flag, file)) or {}
        except yaml.YAMLError:
            raise ConfigProblem(f"{flag} {file}: not valid YAML") from None
        if not isinstance(config, dict):
            raise ConfigProblem(f"{flag} {file}: not a kubeconfig (a YAML mapping)")
        current = current or str(config.get("current-context") or "")
        base = str(Path(file).expanduser().parent)
        for section, entries in merged.items():
            for entry in config.get(section) or []:
                if isinstance(entry, dict) and str(entry.get("name")) not in entries:
                    entries[str(entry.get("name"))] = {**entry, "_dir": base}
    return merged, current


def _referenced_files(where: str, entry: dict[str, Any], key: str) -> None:
    fields = entry.get(key) or {}
    for field in ("certificate-authority", "client-certificate", "client-key", "tokenFile"):
        value = fields.get(field) if isinstance(fields, dict) else None
        if isinstance(value, str) and value:
            file = Path(value) if Path(value).is_absolute() else Path(entry["_dir"]) / value
            _read(f"{where}: {key} {entry.get('name')!r} {field}", str(file))


def pem(flag: str, path: str, block: str) -> None:
    """``path`` is readable and holds a PEM ``block`` (``CERTIFICATE``; ``PRIVATE KEY`` of any type)."""
    text = _read(flag, path)
    if f"{block}-----" not in text or "-----BEGIN " not in text:
        raise ConfigProblem(f"{flag} {path}: no PEM {block} in it")


def key_pair(cert_flag: str, cert: str, key_flag: str, key: str) -> None:
    """The certificate and the key are readable PEM and belong together."""
    pem(cert_flag, cert, "CERTIFICATE")
    pem(key_flag, key, "PRIVATE KEY")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        why = exc.reason or "cannot be loaded"
        raise ConfigProblem(
            f"{cert_flag} {cert} / {key_flag} {key}: not a certificate and its key ({why})"
        ) from None


def agent_identity(flag: str, cert: str) -> None:
    """The agent certificate names exactly one plane URI (the gateway and the allowlist need it)."""
    from choreo_controller.relay.identity import IdentityError  # noqa: PLC0415 - only when a command runs
    from choreo_controller.relay.serve import agent_scope  # noqa: PLC0415

    try:
        agent_scope(cert)
    except (IdentityError, ValueError) as exc:
        raise ConfigProblem(f"{flag} {cert}: {exc}") from None
