"""Provider detection and authenticity: HMAC-SHA256 over the raw body, GitLab tokens, fail closed."""

import pytest
from gitpayloads import body_of, github_push, hmac_hex, lower, signed_bitbucket, signed_github, signed_gitlab

from choreo_controller.reconcilers.autobuild import providers

SECRET = "s3cr3t-webhook"
BODY = body_of(github_push("acme", "shop"))


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param(signed_github(BODY, SECRET), "github", id="github"),
        pytest.param(signed_gitlab(SECRET), "gitlab", id="gitlab"),
        pytest.param(signed_bitbucket(BODY, SECRET), "bitbucket", id="bitbucket"),
        pytest.param({"X-GitHub-Event": "push"}, "github", id="github-unsigned-still-detected"),
        pytest.param({"X-Gitlab-Event": "Push Hook"}, "gitlab", id="gitlab-without-token-still-detected"),
        pytest.param(
            {"X-Event-Key": "repo:push", "X-Hub-Signature-256": "sha256=00"}, "bitbucket", id="event-key-wins"
        ),
        pytest.param({"Content-Type": "application/json"}, None, id="unknown"),
    ],
)
def test_detect(headers, expected):
    assert expected == providers.detect(lower(headers))


def _tamper(headers, name, value):
    return {**headers, name: value}


GOOD_GH = signed_github(BODY, SECRET)
GOOD_BB = signed_bitbucket(BODY, SECRET)


@pytest.mark.parametrize(
    ("provider", "headers", "body", "secret", "expected"),
    [
        pytest.param("github", GOOD_GH, BODY, SECRET, True, id="github-valid"),
        pytest.param("github", GOOD_GH, BODY + b" ", SECRET, False, id="github-body-changed"),
        pytest.param("github", GOOD_GH, BODY, "other", False, id="github-wrong-secret"),
        pytest.param("github", GOOD_GH, BODY, "", False, id="github-empty-secret"),
        pytest.param(
            "github",
            _tamper(
                GOOD_GH,
                "X-Hub-Signature-256",
                GOOD_GH["X-Hub-Signature-256"].upper().replace("SHA256", "sha256"),
            ),
            BODY,
            SECRET,
            True,
            id="github-hex-case-insensitive",
        ),
        pytest.param(
            "github",
            _tamper(GOOD_GH, "X-Hub-Signature-256", ""),
            BODY,
            SECRET,
            False,
            id="github-empty-header",
        ),
        pytest.param(
            "github",
            _tamper(GOOD_GH, "X-Hub-Signature-256", "sha1=" + hmac_hex(SECRET, BODY)),
            BODY,
            SECRET,
            False,
            id="github-wrong-algorithm",
        ),
        pytest.param(
            "github",
            _tamper(GOOD_GH, "X-Hub-Signature-256", hmac_hex(SECRET, BODY)),
            BODY,
            SECRET,
            False,
            id="github-no-prefix",
        ),
        pytest.param(
            "github",
            _tamper(GOOD_GH, "X-Hub-Signature-256", "sha256=é" + hmac_hex(SECRET, BODY)[1:]),
            BODY,
            SECRET,
            False,
            id="github-non-ascii-signature",
        ),
        pytest.param("gitlab", signed_gitlab(SECRET), BODY, SECRET, True, id="gitlab-valid"),
        pytest.param("gitlab", signed_gitlab(SECRET + "x"), BODY, SECRET, False, id="gitlab-wrong-token"),
        pytest.param("gitlab", signed_gitlab(""), BODY, "", False, id="gitlab-empty-token-and-secret"),
        pytest.param("gitlab", {"X-Gitlab-Event": "Push Hook"}, BODY, SECRET, False, id="gitlab-no-token"),
        pytest.param("bitbucket", GOOD_BB, BODY, SECRET, True, id="bitbucket-valid"),
        pytest.param("bitbucket", GOOD_BB, BODY[:-1], SECRET, False, id="bitbucket-body-changed"),
        pytest.param(
            "bitbucket",
            {"X-Event-Key": "repo:push", "X-Hub-Signature-256": GOOD_BB["X-Hub-Signature"]},
            BODY,
            SECRET,
            True,
            id="bitbucket-256-header-accepted",
        ),
        pytest.param("bitbucket", {"X-Event-Key": "repo:push"}, BODY, SECRET, False, id="bitbucket-unsigned"),
    ],
)
def test_verify(provider, headers, body, secret, expected):
    assert expected == providers.verify(provider, lower(headers), body, secret.encode())


@pytest.mark.parametrize(
    ("provider", "headers", "expected"),
    [
        pytest.param("github", {"X-GitHub-Event": "push"}, "push", id="github-push"),
        pytest.param("github", {"X-GitHub-Event": "ping"}, "ping", id="github-ping"),
        pytest.param("github", {"X-GitHub-Event": "pull_request"}, "other", id="github-pr"),
        pytest.param("github", {}, "other", id="github-no-event"),
        pytest.param("gitlab", {"X-Gitlab-Event": "Push Hook"}, "push", id="gitlab-push"),
        pytest.param("gitlab", {"X-Gitlab-Event": "System Hook"}, "push", id="gitlab-system-hook"),
        pytest.param("gitlab", {"X-Gitlab-Event": "Tag Push Hook"}, "other", id="gitlab-tag-push"),
        pytest.param("gitlab", {"X-Gitlab-Event": "Merge Request Hook"}, "other", id="gitlab-mr"),
        pytest.param("bitbucket", {"X-Event-Key": "repo:push"}, "push", id="bitbucket-push"),
        pytest.param("bitbucket", {"X-Event-Key": "repo:refs_changed"}, "push", id="bitbucket-server-push"),
        pytest.param("bitbucket", {"X-Event-Key": "diagnostics:ping"}, "ping", id="bitbucket-ping"),
        pytest.param("bitbucket", {"X-Event-Key": "pullrequest:created"}, "other", id="bitbucket-pr"),
    ],
)
def test_classify(provider, headers, expected):
    assert expected == providers.classify(provider, lower(headers))


@pytest.mark.parametrize(
    ("provider", "headers", "expected"),
    [
        pytest.param("github", signed_github(BODY, SECRET, delivery="d-1"), "d-1", id="github"),
        pytest.param("gitlab", signed_gitlab(SECRET, delivery="d-2"), "d-2", id="gitlab"),
        pytest.param("bitbucket", signed_bitbucket(BODY, SECRET, delivery="d-3"), "d-3", id="bitbucket"),
        pytest.param("github", {}, "", id="absent"),
    ],
)
def test_delivery_id(provider, headers, expected):
    assert expected == providers.delivery_id(provider, lower(headers))
