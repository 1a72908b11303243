"""``attest help TOPIC``: the reference documents, from the installed package.

A CI runner or an air-gapped admission host has the wheel but rarely the repository; the policy
reference must be readable where ``attest verify --policy`` is run, so the documents ship as
package data (``oci_attest/docs``) and this command prints them.
"""

from __future__ import annotations

from importlib import resources

import click

from oci_attest.errors import UsageError

#: Topic -> (file inside oci_attest/docs, one-line summary for the topic list).
TOPICS: dict[str, tuple[str, str]] = {
    "policy": ("policy.md", "the verification policy: YAML fields, flags, how a verdict is made"),
    "buildtype": ("buildtype.md", "the SLSA provenance attest writes: buildType and its fields"),
}


def read_topic(topic: str) -> str:
    """The text of one topic, read from the installed package."""
    entry = TOPICS.get(topic)
    if entry is None:
        raise UsageError(f"no help topic {topic!r}",
                         hint=f"choose one of: {', '.join(sorted(TOPICS))}")
    return resources.files("oci_attest").joinpath("docs", entry[0]).read_text(encoding="utf-8")


@click.command("help")
@click.argument("topic", required=False)
def help_command(topic: str | None) -> None:
    """Print a reference document (the policy format, the provenance fields).

    Without TOPIC, lists the topics. Example:

        attest help policy | less

    Exit codes: 0 printed, 2 unknown topic.
    """
    if topic is None:
        for name in sorted(TOPICS):
            click.echo(f"{name:<10} {TOPICS[name][1]}")
        return
    click.echo(read_topic(topic), nl=False)
