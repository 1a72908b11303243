import pytest

from oci_attest.errors import InputError
from oci_attest.reference import is_loopback_host, parse_digest, parse_reference

HEX = "a" * 64


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("debian", "docker.io", "library/debian", "latest", None),
        ("debian:bookworm", "docker.io", "library/debian", "bookworm", None),
        ("org/app:1", "docker.io", "org/app", "1", None),
        ("127.0.0.1:5000/base/debian:bookworm", "127.0.0.1:5000", "base/debian", "bookworm",
         None),
        ("localhost/app", "localhost", "app", "latest", None),
        (f"ghcr.io/o/a@sha256:{HEX}", "ghcr.io", "o/a", None, f"sha256:{HEX}"),
        (f"ghcr.io/o/a:v1@sha256:{HEX}", "ghcr.io", "o/a", "v1", f"sha256:{HEX}"),
        ("index.docker.io/library/alpine", "docker.io", "library/alpine", "latest", None),
        ("[::1]:5000/app:2", "[::1]:5000", "app", "2", None),
    ],
)
def test_parse_normalizes_like_the_engine(text, registry, repository, tag, digest):
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag,
                                                                   digest)


@pytest.mark.parametrize(
    "text",
    ["", " debian", "Debian", "app:", "app:-bad", "reg.io/app;rm -rf", "reg.io/$(id)",
     "app@sha256:abc", f"app@md5:{HEX}", "reg.io/../etc", "a" * 2000, "reg.io/app\n",
     "reg.io//app", f"app@sha256:{HEX.upper()}"],
)
def test_bad_references_are_refused_with_a_hint(text):
    with pytest.raises(InputError) as caught:
        parse_reference(text)
    assert caught.value.hint
    assert "\n" not in caught.value.render()


def test_pinned_requires_a_digest():
    ref = parse_reference("127.0.0.1:5000/app:1")
    with pytest.raises(InputError):
        ref.pinned()
    assert ref.with_digest(f"sha256:{HEX}").pinned() == f"127.0.0.1:5000/app@sha256:{HEX}"


def test_loopback_detection():
    assert is_loopback_host("127.0.0.1:5000")
    assert is_loopback_host("localhost:5000")
    assert is_loopback_host("[::1]:5000")
    assert not is_loopback_host("10.0.0.1:5000")
    assert not is_loopback_host("ghcr.io")


def test_digest_validation():
    assert parse_digest(f"sha256:{HEX}") == f"sha256:{HEX}"
    with pytest.raises(InputError):
        parse_digest("sha256:xyz")
