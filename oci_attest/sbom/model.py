"""The package record every cataloger produces and every serializer consumes.

Catalogers read files one at a time, possibly before the image's operating system is known (a
later layer may add ``etc/os-release``), so a :class:`Package` stores the parts of its purl and
the purl itself is only rendered at the end, once distro qualifiers can be filled in. Layers are
recorded by position and turned into digests at the end for the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from packageurl import PackageURL

#: Ecosystems in the order components are listed; the key is also the purl type's family.
ECOSYSTEMS = ("deb", "apk", "rpm", "python", "npm", "golang", "maven", "cargo")


@dataclass(frozen=True)
class Distro:
    """What ``os-release`` says; it qualifies OS package purls (``distro=debian-12``)."""

    id: str
    version_id: str | None = None
    version_codename: str | None = None
    pretty_name: str | None = None
    id_like: tuple[str, ...] = ()

    @property
    def qualifier(self) -> str:
        """The purl ``distro`` value: ``ID-VERSION_ID``, or the codename when unversioned."""
        version = self.version_id or self.version_codename
        return f"{self.id}-{version}" if version else self.id


@dataclass
class Package:
    """One installed (or lockfile-declared) package at one location in the image.

    ``dependencies`` hold what the metadata declares, in the ecosystem's own words (dpkg
    relation groups, Python requirement names, npm names); each cataloger's ``finish`` resolves
    them to other packages' keys, stored in ``depends_on``.
    """

    name: str
    version: str
    ecosystem: str
    purl_type: str
    path: str
    layer: int
    cataloger: str
    namespace: str | None = None
    #: The purl's name when it differs from the component name (npm scopes go to the namespace).
    purl_name: str | None = None
    qualifiers: dict[str, str] = field(default_factory=dict)
    subpath: str | None = None
    #: The version to show when it differs from the purl's (RPM's ``epoch:version-release``).
    display_version: str | None = None
    distro_qualified: bool = False
    licenses: list[str] = field(default_factory=list)
    publisher: str | None = None
    author: str | None = None
    description: str | None = None
    dependencies: list[object] = field(default_factory=list)
    depends_on: list[str] = field(default_factory=list)
    properties: dict[str, str] = field(default_factory=dict)

    def purl(self, distro: Distro | None) -> str:
        """The package URL, with the distro qualifier for OS packages when it is known."""
        qualifiers = dict(self.qualifiers)
        if self.distro_qualified and distro is not None:
            qualifiers["distro"] = distro.qualifier
        try:
            return str(PackageURL(type=self.purl_type, namespace=self.namespace,
                                  name=self.purl_name or self.name, version=self.version or None,
                                  qualifiers=qualifiers or None, subpath=self.subpath))
        except ValueError:  # metadata too odd for the type's rules: keep the package anyway
            return str(PackageURL(type="generic", name=self.name or "unknown",
                                  version=self.version or None))

    @property
    def key(self) -> str:
        """Identity within one scan: the same package at two paths is two installations."""
        qualifiers = "&".join(f"{k}={v}" for k, v in sorted(self.qualifiers.items()))
        return "\0".join((self.ecosystem, self.name, self.version, qualifiers, self.path))

    def relocated(self, path: str, layer: int) -> Package:
        """A copy found at another path (a hard link to the file it was read from)."""
        return replace(self, path=path, layer=layer, qualifiers=dict(self.qualifiers),
                       licenses=list(self.licenses), dependencies=list(self.dependencies),
                       depends_on=[], properties=dict(self.properties))


@dataclass(frozen=True)
class ImageInfo:
    """The image as a whole: what metadata.component describes."""

    name: str
    digest: str
    repository_url: str
    tag: str | None
    platform: str
    layer_digests: tuple[str, ...]
    digest_is_image_id: bool = False


@dataclass
class ScanResult:
    """Everything the layer pass found, ready to be serialized."""

    image: ImageInfo
    distro: Distro | None
    packages: list[Package]
    warnings: list[str]
