"""The producer run behind ``attest build``: collect, build, push, describe, sign, attach.

Each step reads what earlier steps left in the state directory and records its own results
there before the next begins, so that a failure at any point loses nothing and
``--resume DIR`` continues from the first unfinished step. Data flows one way; no step reaches
back into another's internals.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from oci_attest.build.base import BuildBackend, BuildRequest
from oci_attest.build.check import check_base_layers, check_pinned
from oci_attest.collect.bases import BaseImage, inspect_base
from oci_attest.collect.builder import detect_ci
from oci_attest.collect.materials import (
    ExternalImage,
    collect_materials,
    pinned_dockerfile,
)
from oci_attest.collect.source import collect_source
from oci_attest.errors import AttestError, InputError, SecretsFound, UsageError
from oci_attest.facts_file import derive_provenance, image_to_json
from oci_attest.provenance import BuildParameters
from oci_attest.redact import (
    name_looks_secret,
    redact_mapping,
    redact_text,
    secret_values,
    url_without_credentials,
    value_looks_secret,
)
from oci_attest.reference import ImageReference, parse_reference
from oci_attest.registry.client import RegistryClient
from oci_attest.registry.layouts import attach_cosign_atts, attach_referrers
from oci_attest.resume_checks import STATEMENTS, check_statement, statement_names
from oci_attest.state import RunState
from oci_attest.statements import CYCLONEDX_BOM, SLSA_PROVENANCE_V1, Subject, make_statement

log = logging.getLogger(__name__)
_SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")

AttachMode = Literal["referrers", "cosign", "both", "none"]
Progress = Callable[[str], None]


@dataclass
class BuildOptions:
    """Everything ``attest build`` was asked to do. Serialized into state.json (no secrets)."""

    context: str
    tags: list[str]
    dockerfile: str | None = None
    build_args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    network: str | None = None
    trust_config: str | None = None
    sign: bool = True
    attach: AttachMode = "both"
    require_clean: bool = False
    redact: list[str] = field(default_factory=list)
    sbom: bool = True
    pull: bool = False
    no_cache: bool = False
    scan_secrets: bool = False
    #: "docker" or "buildah", chosen when the run starts (older state files: docker).
    backend: str = "docker"
    #: Build secrets, id -> file path; the values are read by the backend only, never stored.
    secrets: dict[str, str] = field(default_factory=dict)
    scan_vulns: bool = False
    vuln_fail_on: str | None = None
    vulndb: str | None = None
    vex: list[str] = field(default_factory=list)
    vuln_ignores: dict[str, str] = field(default_factory=dict)

    def persisted(self) -> dict[str, Any]:
        """What goes into state.json: build-arg and label values are needed to rebuild on
        resume only before the build step, so secret-looking ones (and ``--redact`` ones) are
        dropped from the file."""
        data = dataclasses.asdict(self)
        data["build_args"] = redact_mapping(self.build_args, self.redact)
        data["labels"] = redact_mapping(self.labels, self.redact)
        return data


@dataclass(frozen=True)
class BuildOutcome:
    """What a finished run produced; ``summary`` is also written to summary.json."""

    image: str
    state_dir: Path
    summary: dict[str, Any]


def validate_options(options: BuildOptions) -> None:
    if not options.tags:
        raise UsageError("attest build needs at least one -t/--tag to push to",
                         hint="e.g. -t registry.example.com/team/app:1.0")
    for tag in options.tags:
        ref = parse_reference(tag)
        if ref.digest:
            raise UsageError(f"-t {tag} has a digest; a tag to push to is needed",
                             hint="drop the @sha256:... part")
    if not Path(options.context).is_dir():
        raise InputError(f"build context {options.context} is not a directory",
                         hint="pass the directory holding the Dockerfile and the sources")
    if options.scan_vulns:
        from oci_attest.vuln_step import check_settings, settings_of

        check_settings(settings_of(options))


class Pipeline:
    """One run. Construct with a fresh or loaded :class:`RunState`, then :meth:`run`."""

    def __init__(self, state: RunState, options: BuildOptions, backend_factory:
                 Callable[[], BuildBackend], *, identity_token: str | None = None,
                 progress: Progress = lambda _: None,
                 secret_build_args: dict[str, str] | None = None,
                 secret_labels: dict[str, str] | None = None) -> None:
        self.state = state
        self.options = options
        self._backend_factory = backend_factory
        self._backend: BuildBackend | None = None
        self._identity_token = identity_token
        #: Seconds spent in each step by this invocation (a resumed run skips done steps).
        self._timings: dict[str, float] = {}
        # The real values, for the build only; state.json holds the redacted ones.
        self._build_args = secret_build_args if secret_build_args is not None \
            else options.build_args
        self._labels = secret_labels if secret_labels is not None else options.labels
        # Whatever any step or backend prints or raises passes through this filter: an engine
        # echoing a build arg back (a failing RUN, a verbose error) must not leak it.
        self._secrets = [*secret_values(self._build_args, options.redact),
                         *secret_values(self._labels, options.redact)]
        if identity_token and not identity_token.startswith("@"):
            self._secrets.append(identity_token)
        self._progress: Progress = lambda text: progress(redact_text(text, self._secrets))

    @property
    def backend(self) -> BuildBackend:
        if self._backend is None:
            self._backend = self._backend_factory()
        return self._backend

    def run(self) -> BuildOutcome:
        steps: list[tuple[str, Callable[[], None]]] = [
            ("collect", self._collect), ("build", self._build),
            ("check-build", self._check_build), ("secret-scan", self._scan_secrets),
            ("vuln-scan", self._scan_vulns), ("push", self._push),
            ("describe", self._describe), ("sign", self._sign), ("attach", self._attach)]
        if not self.state.step("build"):
            # An unreachable engine is named before any registry is asked about base images,
            # not after a minute of retries against them.
            _ = self.backend
        for name, step in steps:
            started = time.perf_counter()
            try:
                step()
            except AttestError as error:
                self._redact_error(error)
                raise
            self._timings[name] = round(time.perf_counter() - started, 3)
        return self._finish()

    def _redact_error(self, error: AttestError) -> None:
        error.message = redact_text(error.message, self._secrets)
        error.hint = redact_text(error.hint, self._secrets) if error.hint else None
        error.args = (error.message,)

    # ------------------------------------------------------------------------------ collect
    def _collect(self) -> None:
        if self.state.step("collect"):
            return
        options = self.options
        context = Path(options.context).resolve()
        dockerfile = Path(options.dockerfile) if options.dockerfile else context / "Dockerfile"
        if not dockerfile.is_absolute():
            dockerfile = (Path.cwd() / dockerfile).resolve()
        self._progress("collecting source, builder and materials")
        ci = detect_ci()
        source = collect_source(context, ci, require_clean=options.require_clean)
        clients: dict[str, RegistryClient] = {}
        resolved_refs: dict[str, ImageReference] = {}

        def resolve(ref: ImageReference) -> ImageReference:
            if str(ref) not in resolved_refs:
                client = clients.setdefault(ref.registry, RegistryClient(ref.registry))
                resolved_refs[str(ref)] = client.resolve(ref)
                self._progress(f"base image {ref} is {resolved_refs[str(ref)].digest}")
            return resolved_refs[str(ref)]

        def inspect(image: ExternalImage) -> BaseImage:
            assert image.resolved is not None
            client = clients.setdefault(image.resolved.registry,
                                        RegistryClient(image.resolved.registry))
            base = inspect_base(client, image.resolved, image.platform or self.backend.platform())
            if base.from_index:
                self._progress(f"base image {image.written}: {base.platform} manifest "
                               f"{base.manifest}")
            return base

        facts = collect_materials(dockerfile, self._build_args, resolve, inspect)
        if facts.heredocs:
            raise InputError(f"Dockerfile {dockerfile} uses heredocs, which the docker engine's "
                             "classic builder cannot build", hint="use RUN lines instead")
        images = facts.images
        final = facts.final_stage(options.target)
        final_base = None
        if final is not None and final.image is not None:
            assert final.image.resolved is not None
            base = facts.bases[str(final.image.reference)]
            final_base = {"image": final.image.resolved.pinned(), "manifest": base.manifest,
                          "diffIds": list(base.diff_ids)}
        for remote in facts.remote_files:
            if not remote.pinned:
                self._progress(f"warning: remote input {remote.url} ({remote.via or 'ADD'}, "
                               f"line {remote.line}) has no recorded digest; it is listed as "
                               "unpinned")
        self._warn_secret_build_args()
        repo_root = context if source.subdirectory == "." else _parent_n(
            context, len(Path(source.subdirectory).parts))
        params = BuildParameters(
            context=source.subdirectory,
            dockerfile=_relative(dockerfile, repo_root),
            dockerfile_sha256=facts.sha256,
            tags=list(options.tags),
            build_args=redact_mapping(self._build_args, options.redact),
            target=options.target,
            labels=redact_mapping(self._labels, options.redact),
            network=options.network,
            secrets=_secret_records(facts.content, options.secrets),
        )
        pinned = pinned_dockerfile(facts)
        check_pinned(pinned.decode("utf-8"))
        self.state.write("Dockerfile.pinned", pinned)
        self.state.write_json("facts.json", {
            "source": dataclasses.asdict(source),
            "ci": dataclasses.asdict(ci),
            "params": dataclasses.asdict(params),
            "images": [image_to_json(i) for i in images],
            "remoteFiles": [{**dataclasses.asdict(f), "url": url_without_credentials(f.url)}
                            for f in facts.remote_files],
            "onbuild": facts.onbuild,
            "finalBase": final_base,
        })
        self.state.done("collect", {"at": _now()})

    def _warn_secret_build_args(self) -> None:
        for name, value in self._build_args.items():
            if name_looks_secret(name, self.options.redact) or value_looks_secret(value):
                self._progress(f"warning: build arg {name} looks secret; it is redacted in the "
                               "provenance, but both backends record build args in the image "
                               "history. Prefer --secret id=ID,src=FILE (--backend buildah).")

    # -------------------------------------------------------------------------------- build
    def _build(self) -> None:
        done = self.state.step("build")
        if done:
            return
        started = _now()
        self._progress("building the image")
        result = self.backend.build(BuildRequest(
            context=Path(self.options.context).resolve(),
            dockerfile=self.state.read("Dockerfile.pinned"),
            tags=list(self.options.tags),
            build_args=self._build_args,
            target=self.options.target,
            labels=self._labels,
            network=self.options.network,
            pull=self.options.pull,
            no_cache=self.options.no_cache,
            secrets=self.options.secrets,
        ), self._progress)
        self.state.done("build", {"imageId": result.image_id, "startedOn": started,
                                  "finishedOn": _now(), "backend": self.backend.name,
                                  "backendVersion": self.backend.version()})

    # -------------------------------------------------------------------------- check build
    def _check_build(self) -> None:
        """After the build, before push and signing: the Dockerfile the engine got pins every
        image (judged without the parser that pinned it), and the built image starts with
        exactly the recorded final-stage base's layers. The platform recorded is the one in
        the built image's config."""
        if self.state.step("check-build"):
            return
        build = self.state.step("build")
        check_pinned(self.state.read("Dockerfile.pinned").decode("utf-8", "replace"))
        built = self.backend.inspect(build["imageId"])
        final_base = json.loads(self.state.read("facts.json")).get("finalBase")
        base_layers = 0
        if final_base:
            base_layers = len(final_base["diffIds"])
            check_base_layers(built.diff_ids, list(final_base["diffIds"]), final_base["image"])
        self.state.done("check-build", {"platform": built.platform, "baseLayers": base_layers,
                                        "layers": len(built.diff_ids)})

    # -------------------------------------------------------------------------- secret scan
    def _scan_secrets(self) -> None:
        """Between build and push: an image with a credential in a layer is never pushed,
        signed or attested. Findings name file and layer only; values are never kept."""
        if not self.options.scan_secrets or self.state.step("secret-scan"):
            return
        from oci_attest.secrets import scan_image

        build = self.state.step("build")
        self._progress("scanning every layer of the built image for secrets")
        with self.backend.scan_source(build["imageId"]) as source:
            report = scan_image(source, progress=self._progress)
        if report.findings:
            self.state.write_json("secret-scan.json", report.to_json())
            for finding in report.findings:
                self._progress(f"secret: {finding.render()}")
            raise SecretsFound(
                f"{len(report.findings)} secret(s) baked into the built image; nothing was "
                "pushed or signed", hint="remove them from the build context and Dockerfile, "
                "rotate them (they were exposed to the build), then run attest build again")
        if not report.complete:
            # Recorded as not clean (never "clean" over content nobody read), not fatal.
            self.state.write_json("secret-scan.json", report.to_json())
            self._progress(f"warning: the secret scan skipped {len(report.skipped)} item(s) "
                           "it could not read; the provenance records it as not clean")
        else:
            self._progress(f"no secrets found ({report.files_scanned} files in "
                           f"{report.layers} layers, and the image config)")
        self.state.done("secret-scan", report.summary())

    # ---------------------------------------------------------------------------- vuln scan
    def _scan_vulns(self) -> None:
        """Between build and push, on the image in the engine (see :mod:`vuln_step`)."""
        if self.options.scan_vulns and not self.state.step("vuln-scan"):
            from oci_attest.vuln_step import scan_step

            scan_step(self.state, self.options, self._progress)

    # --------------------------------------------------------------------------------- push
    def _push(self) -> None:
        build = self.state.step("build")
        pushed = self.state.step("push") or {}
        pending = [tag for tag in self.options.tags if tag not in pushed]
        if not pending:
            return
        if not self.backend.has_image(build["imageId"]):
            raise InputError(f"the built image {build['imageId'][:19]} is no longer in the "
                             "docker engine, so it cannot be pushed without a rebuild",
                             hint="start a new run (the old one's artifacts stay in its "
                                  "state directory)")
        for tag in pending:
            self._progress(f"pushing {tag}")
            digest = self.backend.push(build["imageId"], tag, self._progress)
            self.state.record("push", tag, digest)
            self._progress(f"pushed {parse_reference(tag).name}@{digest}")
        finished = _now()
        build["pushedOn"] = finished
        self.state.done("build", build)

    def subjects(self) -> list[tuple[ImageReference, str]]:
        """(repository, digest) per distinct pushed repository, in tag order."""
        pushed = self.state.step("push") or {}
        seen: dict[str, tuple[ImageReference, str]] = {}
        for tag in self.options.tags:
            ref = parse_reference(tag)
            if not isinstance(pushed.get(tag), str) or not _SHA256.match(pushed[tag]):
                raise InputError(f"{self.state.directory}/state.json records no valid pushed "
                                 f"digest for {tag}", hint="the state file was tampered "
                                                           "with; start a new run")
            seen.setdefault(f"{ref.name}@{pushed[tag]}",
                            (ref.without_tag().with_digest(pushed[tag]), pushed[tag]))
        return list(seen.values())

    # ----------------------------------------------------------------------------- describe
    def _describe(self) -> None:
        if self.state.step("describe"):
            return
        subjects = [Subject(name=ref.name, digest={"sha256": digest.split(":", 1)[1]})
                    for ref, digest in self.subjects()]
        predicate = self._provenance_predicate()
        written = ["provenance"]
        self.state.write("provenance.intoto.json",
                         make_statement(subjects, SLSA_PROVENANCE_V1, predicate))
        if self.options.sbom:
            from oci_attest.sbom import generate_sbom

            image = self.subjects()[0][0].pinned()
            self._progress(f"generating the SBOM of {image}")
            sbom = generate_sbom(image, progress=self._progress)
            self.state.write("sbom.cdx.json", sbom.text.encode())
            self.state.write("sbom.intoto.json",
                             make_statement(subjects, CYCLONEDX_BOM, sbom.document))
            self._progress(f"SBOM lists {sbom.component_count} components")
            written.append("sbom")
        if self.options.scan_vulns:
            from oci_attest.vuln_step import vuln_statement

            self.state.write("vuln.intoto.json", vuln_statement(self.state, subjects))
            written.append("vuln")
        self.state.done("describe", {"statements": written})

    def _provenance_predicate(self) -> dict[str, Any]:
        return derive_provenance(self.state)

    def statement_names(self) -> list[str]:
        return statement_names(self.state)

    def check_statement(self, name: str, raw: bytes) -> None:
        check_statement(self.state, name, raw, self.subjects(), self._provenance_predicate)

    # --------------------------------------------------------------------------------- sign
    def _sign(self) -> None:
        if not self.options.sign:
            if not self.state.step("sign-skipped"):
                self._progress("warning: --no-sign: the statements are NOT signed and will not "
                               f"be attached; they are kept in {self.state.directory} only")
                self.state.done("sign-skipped", True)
            return
        names = self.statement_names()
        pending = [n for n in names if not self.state.has(f"{n}.sigstore.json")]
        if not pending:
            return
        statements = [(n, self.state.read(f"{n}.intoto.json")) for n in pending]
        for name, raw in statements:
            self.check_statement(name, raw)
        from oci_attest.sign import load_trust_config, resolve_identity_token, sign_statements

        trust = load_trust_config(Path(self.options.trust_config)
                                  if self.options.trust_config else None)
        token = resolve_identity_token(self._identity_token, trust)
        self._progress(f"signing {', '.join(pending)} (one certificate for the build)")
        for signed in sign_statements(statements, identity_token=token, trust_config=trust):
            self.state.write(f"{signed.name}.sigstore.json", signed.bundle_json)
            self.state.record("sign", signed.name, {"at": _now()})

    # ------------------------------------------------------------------------------- attach
    def _attach(self) -> None:
        if not self.options.sign or self.options.attach == "none":
            return
        layouts = {"referrers": ["referrer"], "cosign": ["cosign-att"],
                   "both": ["referrer", "cosign-att"]}[self.options.attach]
        done = self.state.step("attach") or {}
        names = self.statement_names()
        predicate_types = dict(STATEMENTS)
        writers = {"referrer": attach_referrers, "cosign-att": attach_cosign_atts}
        jobs = []
        for ref, _ in self.subjects():
            for layout in layouts:
                pending = [n for n in names if f"{ref.pinned()} {n} {layout}" not in done]
                if pending:
                    jobs.append((ref, layout, pending))

        def attach(ref: ImageReference, layout: str, pending: list[str]) -> list[str]:
            # All of this build's statements in one write per layout; each read-modify-write
            # of a shared tag waits out a settle delay, so the layouts are written in parallel
            # (one client per thread).
            self._progress(f"attaching {', '.join(pending)} to {ref.name} ({layout})")
            descriptors = writers[layout](
                RegistryClient(ref.registry), ref,
                [(self.state.read(f"{n}.sigstore.json"), predicate_types[n]) for n in pending])
            return [d.digest for d in descriptors]

        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = [(job, pool.submit(attach, *job)) for job in jobs]
            errors = []
            for (ref, layout, pending), future in futures:
                try:
                    digests = future.result()
                except AttestError as error:
                    errors.append(error)
                    continue
                for name, digest in zip(pending, digests, strict=True):
                    self.state.record("attach", f"{ref.pinned()} {name} {layout}", digest)
        if errors:
            raise errors[0]

    # ------------------------------------------------------------------------------- finish
    def _finish(self) -> BuildOutcome:
        subjects = self.subjects()
        attach = self.state.step("attach") or {}
        names = self.statement_names()
        predicate_types = dict(STATEMENTS)
        attestations = []
        for name in names:
            entry: dict[str, Any] = {
                "name": name,
                "predicateType": predicate_types[name],
                "statement": str(self.state.directory / f"{name}.intoto.json"),
                "signed": self.state.has(f"{name}.sigstore.json"),
                "locations": [],
            }
            if entry["signed"]:
                entry["bundle"] = str(self.state.directory / f"{name}.sigstore.json")
            for key, digest in sorted(attach.items()):
                parts = str(key).split(" ")
                if len(parts) != 3:
                    raise InputError(f"{self.state.directory}/state.json has a malformed "
                                     f"attach entry {str(key)[:60]!r}")
                image, statement, layout = parts
                if statement == name:
                    entry["locations"].append({"image": image, "layout": layout,
                                               "digest": digest})
            attestations.append(entry)
        image = subjects[0][0].pinned()
        summary = {
            "image": image,
            "subjects": [ref.pinned() for ref, _ in subjects],
            "tags": list(self.options.tags),
            "signed": self.options.sign,
            "attestations": attestations,
            "stateDir": str(self.state.directory),
            "timings": dict(self._timings),
        }
        self.state.write_json("summary.json", summary)
        self.state.done("finish", {"at": _now()})
        return BuildOutcome(image=image, state_dir=self.state.directory, summary=summary)


def start_run(options: BuildOptions, output: Path | None) -> RunState:
    validate_options(options)
    directory = output or Path(tempfile.mkdtemp(prefix="attest-build-"))
    return RunState.create(directory, options.persisted())


def resume_run(directory: Path) -> tuple[RunState, BuildOptions]:
    state = RunState.load(directory)
    try:
        options = BuildOptions(**state.options)
    except TypeError as error:
        raise InputError(f"{directory}/state.json has unexpected options: {error}") from None
    if (options.attach not in ("referrers", "cosign", "both", "none")
            or not isinstance(options.tags, list) or not options.tags
            or not all(isinstance(t, str) for t in options.tags)):
        raise InputError(f"{directory}/state.json has malformed options",
                         hint="the state file was tampered with; start a new run")
    for tag in options.tags:
        if parse_reference(tag).digest:
            raise InputError(f"{directory}/state.json: tag {tag} has a digest")
    return state, options


def _secret_records(dockerfile: bytes, secrets: dict[str, str]) -> list[dict[str, Any]]:
    """Which build secrets were given and which RUN lines mount them: ids only, never the
    file or its value."""
    if not secrets:
        return []
    from oci_attest.build.features import secret_mounts

    lines: dict[str, list[str]] = {}
    for mount in secret_mounts(dockerfile):
        lines.setdefault(mount.id, []).append(f"RUN --mount=type=secret (line {mount.line})")
    return [{"id": secret_id, "mountedBy": lines.get(secret_id, [])}
            for secret_id in sorted(secrets)]


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def _parent_n(path: Path, levels: int) -> Path:
    for _ in range(levels):
        path = path.parent
    return path


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
