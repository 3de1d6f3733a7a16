"""Repository URL normalisation and the provider a public host implies."""

import pytest

from choreo_controller.reconcilers.autobuild.repourl import normalize, provider_for

CANONICAL = "https://github.com/acme/shop"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("https://github.com/acme/shop", CANONICAL, id="https"),
        pytest.param("https://github.com/acme/shop.git", CANONICAL, id="dot-git"),
        pytest.param("https://github.com/acme/shop/", CANONICAL, id="trailing-slash"),
        pytest.param("https://github.com/acme/shop.git/", CANONICAL, id="dot-git-and-slash"),
        pytest.param("HTTPS://GitHub.com/Acme/Shop", CANONICAL, id="case"),
        pytest.param("http://github.com/acme/shop", CANONICAL, id="http"),
        pytest.param("git@github.com:acme/shop.git", CANONICAL, id="scp-like"),
        pytest.param("git@github.com:/acme/shop.git", CANONICAL, id="scp-like-leading-slash"),
        pytest.param("ssh://git@github.com/acme/shop.git", CANONICAL, id="ssh"),
        pytest.param("ssh://git@github.com:22/acme/shop", CANONICAL, id="ssh-port"),
        pytest.param("git+ssh://git@github.com/acme/shop.git", CANONICAL, id="git-plus-ssh"),
        pytest.param("git://github.com/acme/shop.git", CANONICAL, id="git-protocol"),
        pytest.param(
            "https://x-access-token:ghp_SECRET@github.com/acme/shop.git", CANONICAL, id="credentials-dropped"
        ),
        pytest.param("https://github.com:443/acme/shop?tab=readme#top", CANONICAL, id="port-query-fragment"),
        pytest.param("  github.com/acme/shop  ", CANONICAL, id="no-scheme"),
        pytest.param(
            "https://gitlab.example.com/grp/sub/shop.git",
            "https://gitlab.example.com/grp/sub/shop",
            id="self-hosted-subgroups",
        ),
        pytest.param("https://github.com/", "", id="no-path"),
        pytest.param("ftp://github.com/acme/shop", "", id="unknown-scheme"),
        pytest.param("", "", id="empty"),
        pytest.param("not a url", "", id="garbage"),
    ],
)
def test_normalize(url, expected):
    assert expected == normalize(url)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("https://github.com/acme/shop", "github", id="github"),
        pytest.param("git@gitlab.com:acme/shop.git", "gitlab", id="gitlab"),
        pytest.param("https://bitbucket.org/acme/shop", "bitbucket", id="bitbucket"),
        pytest.param("https://eu.gitlab.com/acme/shop", "gitlab", id="subdomain"),
        pytest.param("https://bitbucket.org/acme/github.com-mirror", "bitbucket", id="host-only-not-path"),
        pytest.param("https://notgithub.com/acme/shop", None, id="lookalike-host"),
        pytest.param("https://git.example.com/acme/shop", None, id="self-hosted"),
        pytest.param("garbage", None, id="invalid"),
    ],
)
def test_provider_for(url, expected):
    assert expected == provider_for(url)
