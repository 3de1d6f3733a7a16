"""Push payloads of each provider reduced to repository URLs, pushed branches and changed paths."""

import pytest
from gitpayloads import COMMIT, _commit, bitbucket_push, github_push, gitlab_push

from choreo_controller.reconcilers.autobuild.providers import (
    MalformedPayload,
    PushedBranch,
    PushEvent,
    parse_push,
)

GH_REPO = frozenset({"https://github.com/acme/shop"})
GL_REPO = frozenset({"https://gitlab.com/acme/shop"})
BB_REPO = frozenset({"https://bitbucket.org/acme/shop"})
MAIN = (PushedBranch("main", COMMIT),)
SHA2 = "a" * 40


def _deleted(payload):
    return {**payload, "deleted": True, "after": "0" * 40}


def _bitbucket_server():
    return {
        "eventKey": "repo:refs_changed",
        "repository": {
            "slug": "shop",
            "links": {
                "clone": [
                    {"href": "ssh://git@bitbucket.example.com:7999/acme/shop.git", "name": "ssh"},
                    {"href": "https://bitbucket.example.com/scm/acme/shop.git", "name": "http"},
                ]
            },
        },
        "changes": [
            {
                "ref": {"id": "refs/heads/main", "displayId": "main", "type": "BRANCH"},
                "toHash": COMMIT,
                "type": "UPDATE",
            },
            {
                "ref": {"id": "refs/heads/old", "displayId": "old", "type": "BRANCH"},
                "toHash": "0" * 40,
                "type": "DELETE",
            },
        ],
    }


def _two_branch_bitbucket():
    payload = bitbucket_push("acme", "shop")
    second = {
        **payload["push"]["changes"][0],
        "new": {"type": "branch", "name": "dev", "target": {"hash": SHA2}},
    }
    payload["push"]["changes"].append(second)
    return payload


@pytest.mark.parametrize(
    ("provider", "payload", "expected"),
    [
        pytest.param(
            "github",
            github_push("Acme", "Shop", modified=("svc/a.go", "docs/x.md")),
            PushEvent("github", GH_REPO, MAIN, ("svc/a.go", "docs/x.md")),
            id="github-push",
        ),
        pytest.param(
            "github",
            github_push(
                "acme",
                "shop",
                commits=[_commit(SHA2, added=["a"]), _commit(COMMIT, removed=["b"], modified=["a"])],
            ),
            PushEvent("github", GH_REPO, MAIN, ("a", "b")),
            id="github-paths-from-every-commit-deduplicated",
        ),
        pytest.param(
            "github",
            github_push("acme", "shop", committed_at="2026-05-01T12:00:05+02:00"),
            PushEvent(
                "github", GH_REPO, (PushedBranch("main", COMMIT, "2026-05-01T10:00:05Z"),), ("svc/main.go",)
            ),
            id="github-commit-time-in-utc",
        ),
        pytest.param(
            "github",
            {
                **github_push("acme", "shop", commits=[_commit(COMMIT, timestamp="2026-05-01T10:00:05Z")]),
                "head_commit": None,
            },
            PushEvent("github", GH_REPO, (PushedBranch("main", COMMIT, "2026-05-01T10:00:05Z"),), ()),
            id="github-commit-time-from-the-listed-commit",
        ),
        pytest.param(
            "github",
            github_push("acme", "shop", committed_at="yesterday"),
            PushEvent("github", GH_REPO, MAIN, ("svc/main.go",)),
            id="github-commit-time-not-a-time-is-ignored",
        ),
        pytest.param(
            "gitlab",
            gitlab_push("acme", "shop", committed_at="2026-05-01T10:00:05-01:00"),
            PushEvent(
                "gitlab", GL_REPO, (PushedBranch("main", COMMIT, "2026-05-01T11:00:05Z"),), ("svc/main.go",)
            ),
            id="gitlab-commit-time",
        ),
        pytest.param(
            "bitbucket",
            bitbucket_push("acme", "shop", committed_at="2026-05-01T10:00:05+00:00"),
            PushEvent("bitbucket", BB_REPO, (PushedBranch("main", COMMIT, "2026-05-01T10:00:05Z"),), None),
            id="bitbucket-commit-time",
        ),
        pytest.param(
            "github",
            github_push("acme", "shop", commits=[_commit(COMMIT, modified=["x"])] * 20),
            PushEvent("github", GH_REPO, MAIN, None),
            id="github-20-commits-paths-unknown",
        ),
        pytest.param(
            "github",
            github_push("acme", "shop", commits=[]),
            PushEvent("github", GH_REPO, MAIN, None),
            id="github-no-commits-paths-unknown",
        ),
        pytest.param(
            "github",
            _deleted(github_push("acme", "shop")),
            PushEvent("github", GH_REPO, (), ("svc/main.go",)),
            id="github-branch-deleted",
        ),
        pytest.param(
            "github",
            {**github_push("acme", "shop"), "ref": "refs/tags/v1.0.0"},
            PushEvent("github", GH_REPO, (), ("svc/main.go",)),
            id="github-tag",
        ),
        pytest.param(
            "gitlab",
            gitlab_push("acme", "shop", branch="release/1.x"),
            PushEvent("gitlab", GL_REPO, (PushedBranch("release/1.x", COMMIT),), ("svc/main.go",)),
            id="gitlab-push",
        ),
        pytest.param(
            "gitlab",
            {**gitlab_push("acme", "shop"), "total_commits_count": 45},
            PushEvent("gitlab", GL_REPO, MAIN, None),
            id="gitlab-truncated-commits",
        ),
        pytest.param(
            "gitlab",
            {**gitlab_push("acme", "shop"), "after": "0" * 40, "checkout_sha": None},
            PushEvent("gitlab", GL_REPO, (), ("svc/main.go",)),
            id="gitlab-branch-deleted",
        ),
        pytest.param(
            "gitlab",
            gitlab_push("grp/sub", "shop", host="git.example.com"),
            PushEvent("gitlab", frozenset({"https://git.example.com/grp/sub/shop"}), MAIN, ("svc/main.go",)),
            id="gitlab-self-hosted-subgroup",
        ),
        pytest.param(
            "bitbucket",
            bitbucket_push("acme", "shop"),
            PushEvent("bitbucket", BB_REPO, MAIN, None),
            id="bitbucket-push-paths-unknown",
        ),
        pytest.param(
            "bitbucket",
            _two_branch_bitbucket(),
            PushEvent("bitbucket", BB_REPO, (*MAIN, PushedBranch("dev", SHA2)), None),
            id="bitbucket-two-branches",
        ),
        pytest.param(
            "bitbucket",
            _bitbucket_server(),
            PushEvent(
                "bitbucket",
                frozenset(
                    {"https://bitbucket.example.com/acme/shop", "https://bitbucket.example.com/scm/acme/shop"}
                ),
                MAIN,
                None,
            ),
            id="bitbucket-server-refs-changed",
        ),
    ],
)
def test_parse_push(provider, payload, expected):
    assert expected == parse_push(provider, payload)


@pytest.mark.parametrize(
    ("provider", "payload", "fragment"),
    [
        pytest.param("github", [], "not a JSON object", id="list"),
        pytest.param("github", {"ref": "refs/heads/main"}, "no repository object", id="github-no-repository"),
        pytest.param(
            "github", {"repository": {"clone_url": "not a url"}}, "no repository URL", id="github-bad-url"
        ),
        pytest.param("gitlab", {"object_kind": "tag_push"}, "is not a push", id="gitlab-not-push"),
        pytest.param(
            "gitlab", {"object_kind": "push", "project": {}}, "no repository URL", id="gitlab-no-url"
        ),
        pytest.param("bitbucket", {"push": {}}, "no repository object", id="bitbucket-no-repository"),
    ],
)
def test_malformed_payloads(provider, payload, fragment):
    with pytest.raises(MalformedPayload, match=fragment):
        parse_push(provider, payload)


INJECTION = "$(id>&2;echo${IFS}PWNED>&2)"  # a valid git branch name (relay-review finding 2)


def _with(payload, **changes):
    payload.update(changes)
    return payload


def _two_repositories():
    payload = github_push("acme", "shop")
    payload["repository"]["clone_url"] = "https://github.com/victim/app.git"
    return payload


@pytest.mark.parametrize(
    ("provider", "payload", "fragment"),
    [
        pytest.param("github", github_push("acme", "shop", branch=INJECTION), "ref name", id="github-injection-branch"),
        pytest.param("gitlab", gitlab_push("acme", "shop", branch="a`id`"), "ref name", id="gitlab-backticks"),
        pytest.param("bitbucket", bitbucket_push("acme", "shop", branch="x;reboot"), "ref name", id="bitbucket-semicolon"),
        pytest.param("github", _with(github_push("acme", "shop"), ref="refs/tags/$(id)"), "ref name", id="tag-injection"),
        pytest.param("github", _with(github_push("acme", "shop"), ref="refs/heads/-upload-pack=x"), "ref name",
                     id="option-injection"),
        pytest.param("github", github_push("acme", "shop", after="A" * 40), "pushed commit", id="upper-case-commit"),
        pytest.param("github", github_push("acme", "shop", after="abc1234"), "pushed commit", id="short-commit"),
        pytest.param("github", _two_repositories(), "more than one repository", id="two-repositories"),
    ],
)  # fmt: skip
def test_unsafe_git_inputs_refuse_the_whole_payload(provider, payload, fragment):
    with pytest.raises(MalformedPayload, match=fragment):
        parse_push(provider, payload)
