"""Push webhook deliveries in the shape GitHub, GitLab and Bitbucket Cloud send them.

The payload bodies follow the providers' documented push events (field names, nesting, the URL forms each
provider puts in them, trimmed of fields the receiver never reads); ``signed_*`` returns the headers a
provider sends with them, signed with ``secret`` the way that provider signs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid

COMMIT = "9f3c2b1a7e6d5c4b3a291807f6e5d4c3b2a19081"
BEFORE = "1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c"


def _commit(sha, added=(), modified=(), removed=(), timestamp=None):
    found = {"id": sha, "added": list(added), "modified": list(modified), "removed": list(removed)}
    return found if timestamp is None else {**found, "timestamp": timestamp}


def github_push(
    owner, repo, *, branch="main", after=COMMIT, modified=("svc/main.go",), commits=None, committed_at=None
):
    """``committed_at``: the head commit's ``timestamp`` (ISO 8601, as GitHub writes it)."""
    full = f"{owner}/{repo}"
    commits = commits if commits is not None else [_commit(after, modified=modified, timestamp=committed_at)]
    return {
        "ref": f"refs/heads/{branch}",
        "before": BEFORE,
        "after": after,
        "created": False,
        "deleted": False,
        "forced": False,
        "base_ref": None,
        "compare": f"https://github.com/{full}/compare/{BEFORE[:12]}...{after[:12]}",
        "commits": commits,
        "head_commit": commits[-1] if commits else None,
        "repository": {
            "id": 123456789,
            "node_id": "R_kgDOabc",
            "name": repo,
            "full_name": full,
            "private": False,
            "owner": {"name": owner, "login": owner},
            "html_url": f"https://github.com/{full}",
            "url": f"https://github.com/{full}",
            "git_url": f"git://github.com/{full}.git",
            "ssh_url": f"git@github.com:{full}.git",
            "clone_url": f"https://github.com/{full}.git",
            "svn_url": f"https://github.com/{full}",
            "default_branch": "main",
        },
        "pusher": {"name": "dev", "email": "dev@example.com"},
        "sender": {"login": "dev", "id": 1, "type": "User"},
    }


def gitlab_push(
    namespace,
    project,
    *,
    branch="main",
    after=COMMIT,
    modified=("svc/main.go",),
    host="gitlab.com",
    committed_at=None,
):
    path = f"{namespace}/{project}"
    return {
        "object_kind": "push",
        "event_name": "push",
        "before": BEFORE,
        "after": after,
        "ref": f"refs/heads/{branch}",
        "ref_protected": True,
        "checkout_sha": after,
        "user_username": "dev",
        "project_id": 15,
        "project": {
            "id": 15,
            "name": project,
            "web_url": f"https://{host}/{path}",
            "git_ssh_url": f"git@{host}:{path}.git",
            "git_http_url": f"https://{host}/{path}.git",
            "namespace": namespace,
            "path_with_namespace": path,
            "default_branch": "main",
        },
        "commits": [_commit(after, modified=modified, timestamp=committed_at)],
        "total_commits_count": 1,
        "repository": {
            "name": project,
            "url": f"git@{host}:{path}.git",
            "homepage": f"https://{host}/{path}",
            "git_http_url": f"https://{host}/{path}.git",
            "git_ssh_url": f"git@{host}:{path}.git",
        },
    }


def bitbucket_push(workspace, repo, *, branch="main", after=COMMIT, committed_at=None):
    full = f"{workspace}/{repo}"
    target = {"type": "commit", "hash": after}
    if committed_at is not None:
        target["date"] = committed_at
    return {
        "actor": {"display_name": "Dev", "type": "user"},
        "repository": {
            "type": "repository",
            "full_name": full,
            "name": repo,
            "is_private": False,
            "links": {
                "self": {"href": f"https://api.bitbucket.org/2.0/repositories/{full}"},
                "html": {"href": f"https://bitbucket.org/{full}"},
            },
        },
        "push": {
            "changes": [
                {
                    "new": {"type": "branch", "name": branch, "target": target},
                    "old": {"type": "branch", "name": branch, "target": {"type": "commit", "hash": BEFORE}},
                    "created": False,
                    "closed": False,
                    "forced": False,
                    "truncated": False,
                    "commits": [{"type": "commit", "hash": after, "message": "change\n"}],
                }
            ]
        },
    }


def body_of(payload):
    return json.dumps(payload).encode()


def hmac_hex(secret, body):
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed_github(body, secret, *, event="push", delivery=None):
    return {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/abc1234",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "4242",
        "X-Hub-Signature": "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest(),
        "X-Hub-Signature-256": "sha256=" + hmac_hex(secret, body),
    }


def signed_gitlab(token, *, event="Push Hook", delivery=None):
    return {
        "Content-Type": "application/json",
        "User-Agent": "GitLab/17.5.0",
        "X-Gitlab-Event": event,
        "X-Gitlab-Token": token,
        "X-Gitlab-Event-UUID": delivery or str(uuid.uuid4()),
        "X-Gitlab-Instance": "https://gitlab.com",
    }


def signed_bitbucket(body, secret, *, event="repo:push", delivery=None):
    return {
        "Content-Type": "application/json",
        "User-Agent": "Bitbucket-Webhooks/2.0",
        "X-Event-Key": event,
        "X-Request-UUID": delivery or str(uuid.uuid4()),
        "X-Hook-UUID": str(uuid.uuid4()),
        "X-Hub-Signature": "sha256=" + hmac_hex(secret, body),
    }


def lower(headers):
    return {k.lower(): v for k, v in headers.items()}
