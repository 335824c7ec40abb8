"""Typed study configuration, loaded from TOML and validated on load.

A study config names the datasets, the networks and the subsets to analyse, plus one table of
parameters per analysis. Every table maps onto a frozen dataclass owned by the module that uses
it (``analysis.statistics.geometry.GeometryParams`` ...); :func:`build_dataclass` checks key names and
value types against the dataclass fields so that a typo such as ``kmeans_kk = 3`` fails with a
message naming the key, the table and the valid keys, instead of being silently ignored.

Relative paths in a config are resolved against the directory of the config file, so a config
means the same thing whatever the current directory is.
"""
from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

# ConfigError and build_dataclass are imported from here by the rest of the project.
from analysis.config_fields import ConfigError, build_dataclass  # noqa: F401
from analysis.config_fields import reject_unknown as _reject_unknown
from analysis.statistics.classifiers.classifiers import ClassifierParams
from analysis.statistics.audit.audit import AuditParams
from analysis.statistics.clustering.clustering import ClusteringParams
from analysis.statistics.crossnet import CrossNetworkParams
from analysis.statistics.discovery import DiscoveryParams
from analysis.statistics.geometry import GeometryParams
from analysis.statistics.identification.params import IdentificationParams
from analysis.statistics.manifold import ManifoldParams
from analysis.statistics.recognizer import RecognitionParams
from analysis.statistics.verification.differentials.params import DifferentialsParams
from analysis.statistics.verification.similarity import SimilarityParams
from analysis.statistics.subsets import parse_subset
from analysis.publishing import PaperSettings, SiteSettings, check_outside_outputs


#: Values of ``[study] backend`` (see :mod:`report.backend`).
BACKENDS = ("loky", "serial", "dask")


@dataclass(frozen=True)
class StudySettings:
    """The ``[study]`` table: identity of the study and where outputs go.

    Parameters
    ----------
    title : str
        Title of the site and the paper.
    seed : int
        Master seed; every random choice of the study derives from it.
    output_dir : Path
        Folder that receives ``docs/``, ``site/`` and ``paper/``.
    cache_dir : Path
        Folder of the content-addressed embedding store and analysis cache.
    galleries : bool
        Add a "Face galleries" page per (dataset, network) of image datasets: montages of aligned
        faces per cluster, of the most confused identity pairs and of the suspected mislabels
        (:mod:`analysis.statistics.galleries`, thumbnails cut from the original images by
        :mod:`analysis.embedding.thumbnails`). Off by default: face images are biometric data and
        datasets such as FRGC forbid redistribution; when off, no face pixel reaches the site
        or the paper. The paper never shows faces. Datasets without images (synthetic,
        precomputed embeddings) get no gallery, with a note on the Overview page, not an error.
        It also adds a "Face detections" page per image dataset (every detected box, score and
        landmark on a seeded sample of photos, :mod:`report.pages.detections`).
    publish_vectors : bool
        Publish the embedding vectors on the site: one Parquet file per (dataset, network) with
        every row's vector (subsets are row selections of it, never copies) and the TensorBoard
        Projector TSV pair of the explorer's points. Off by default: embeddings are biometric
        templates and datasets such as FRGC forbid redistributing derived biometric data; the
        site then carries the 2-D maps, identities, items, clusters, flags and scores only.
    build_site, build_paper : bool
        Run ``mkdocs build`` / ``latexmk`` after writing the sources.
    authors : list of str or str
        Authors of the paper (a list, or one string used as the author line); also the PDF's
        Author field.
    affiliation : str
        Affiliation line under the authors (optional).
    keywords : list of str
        Keywords of the paper and of the PDF metadata (optional).
    site_url : str
        Public URL of the site (used by MkDocs for canonical links); empty for none.
    junk_labels : tuple of str, default=("unknown",)
        Labels that do not name a person (a catch-all group). Identity tables of the site leave
        them out (no "nearest other identity" is ever ``unknown``) and report them once on their own.
    backend : {"loky", "serial", "dask"}
        Where the per-cell analyses run (:mod:`report.backend`): ``loky`` worker processes on
        this machine (default), ``serial`` in this process, or ``dask`` tasks on a Dask cluster,
        which also splits the quadratic passes (all-pair histograms, k-NN graph) into tasks.
    n_jobs : int
        Worker processes (``loky``) or workers of the ``LocalCluster`` started for the run
        (``dask`` without a scheduler); 0 means one per CPU core.
    scheduler : str
        Address of a running Dask scheduler (``tcp://host:8786``); empty starts a
        ``LocalCluster`` for the run. With a remote cluster, ``cache_dir`` must be on a file
        system the workers share.
    """

    title: str = "Face Embedding Atlas"
    seed: int = 0
    output_dir: Path = Path(".")
    cache_dir: Path = Path(".cache")
    galleries: bool = False
    publish_vectors: bool = False
    build_site: bool = True
    build_paper: bool = True
    authors: tuple[str, ...] | str = ()
    affiliation: str = ""
    keywords: tuple[str, ...] = ()
    site_url: str = ""
    junk_labels: tuple[str, ...] = ("unknown",)
    backend: str = "loky"
    n_jobs: int = 0
    scheduler: str = ""

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {self.backend!r}")
        if self.n_jobs < 0:
            raise ValueError(f"n_jobs must be >= 0 (0: one per CPU core), got {self.n_jobs}")
        if self.scheduler and self.backend != "dask":
            raise ValueError(f"scheduler is only used with backend = \"dask\", got backend = {self.backend!r}")


@dataclass(frozen=True)
class DatasetSpec:
    """One ``[[datasets]]`` entry: a name, an adapter ``kind`` and its options.

    ``options`` is the adapter's own frozen options object (see :mod:`analysis.embedding.datasets`);
    ``groups`` the entry's group keys (``group_columns``, ``metadata_file``...), a
    :class:`analysis.embedding.datasets.groups.GroupOptions`, for every kind.
    """

    name: str
    kind: str
    options: Any
    groups: Any = None


@dataclass(frozen=True)
class NetworkSpec:
    """One ``[[networks]]`` entry: a name, an embedder ``kind`` and its options.

    ``options`` is the embedder's own frozen options object (see :mod:`analysis.embedding.networks`).
    """

    name: str
    kind: str
    options: Any


@dataclass(frozen=True)
class StudyConfig:
    """A whole validated study.

    Parameters
    ----------
    source : Path
        The TOML file this config was read from.
    study : StudySettings
    datasets : tuple of DatasetSpec
    networks : tuple of NetworkSpec
    subsets : tuple of str
        Subset specifications (``all``, ``balanced-6``, ``min-10``, ``range-5-10``), see
        :mod:`analysis.statistics.subsets`.
    geometry, similarity, clustering, manifold, classifiers, audit, crossnet, discovery, identification,
    differentials
        Per-analysis parameters (``discovery``: identity discovery on unlabelled datasets;
        ``recognition``: the recogniser exported for ``predict``; ``identification``: 1:N search,
        whose ``junk_labels`` are ``[study] junk_labels``).
    extraction : Any
        Face pipeline parameters (detection, alignment, batching, devices), see
        :mod:`analysis.embedding.extract`.
    """

    source: Path
    study: StudySettings
    datasets: tuple[DatasetSpec, ...]
    networks: tuple[NetworkSpec, ...]
    subsets: tuple[str, ...] = ("all",)
    geometry: GeometryParams = field(default_factory=GeometryParams)
    similarity: SimilarityParams = field(default_factory=SimilarityParams)
    clustering: ClusteringParams = field(default_factory=ClusteringParams)
    manifold: ManifoldParams = field(default_factory=ManifoldParams)
    classifiers: ClassifierParams = field(default_factory=ClassifierParams)
    audit: AuditParams = field(default_factory=AuditParams)
    crossnet: CrossNetworkParams = field(default_factory=CrossNetworkParams)
    extraction: Any = None
    discovery: DiscoveryParams = field(default_factory=DiscoveryParams)
    recognition: RecognitionParams = field(default_factory=RecognitionParams)
    paper: PaperSettings = field(default_factory=PaperSettings)
    site: SiteSettings = field(default_factory=SiteSettings)
    identification: IdentificationParams = field(default_factory=IdentificationParams)
    differentials: DifferentialsParams = field(default_factory=DifferentialsParams)


# Tables whose content maps one-to-one onto a params dataclass.
_SECTION_TYPES: dict[str, type] = {
    "geometry": GeometryParams,
    "similarity": SimilarityParams,
    "clustering": ClusteringParams,
    "manifold": ManifoldParams,
    "classifiers": ClassifierParams,
    "audit": AuditParams,
    "crossnet": CrossNetworkParams,
    "discovery": DiscoveryParams,
    "recognition": RecognitionParams,
    "identification": IdentificationParams,
    "differentials": DifferentialsParams,
}


def load_config(path: str | Path, overrides: Mapping[str, Any] | None = None) -> StudyConfig:
    """Read and validate a study config.

    Parameters
    ----------
    path : str or Path
        TOML file.
    overrides : mapping, optional
        Values replacing keys of the ``[study]`` table (the CLI's ``--output-dir`` ...).
        Relative paths given here are taken relative to the current directory.

    Raises
    ------
    ConfigError
        On a missing file, invalid TOML, unknown keys, wrong types or missing paths.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} not found; pass --config PATH to an existing TOML file")
    try:
        # utf-8-sig: a byte-order mark (Windows Notepad, Excel) is not TOML, but it is not the user's mistake either.
        raw = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError:
        from analysis.embedding.datasets.text_files import not_utf8_message

        raise ConfigError(f"config {not_utf8_message(path, spreadsheet=False)}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    return parse_config(raw, source=path.resolve(), overrides=overrides)


def parse_config(raw: Mapping[str, Any], source: Path, overrides: Mapping[str, Any] | None = None) -> StudyConfig:
    """Validate an already parsed TOML document; see :func:`load_config`."""
    from analysis import config_checks
    from analysis.embedding import datasets, extract, networks  # late: they import heavy optional modules lazily

    base = source.parent
    known = {"study", "datasets", "networks", "subsets", "extraction", "paper", "site", *_SECTION_TYPES}
    _reject_unknown(raw, known, where="the top level")

    study_table = dict(raw.get("study", {}))
    study = build_dataclass(StudySettings, study_table, where="[study]", base=base)
    if overrides:
        fixed = {k: (Path(v).resolve() if isinstance(v, (str, Path)) and k.endswith("_dir") else v)
                 for k, v in overrides.items() if v is not None}
        _reject_unknown(fixed, {f.name for f in dataclasses.fields(StudySettings)}, where="overrides")
        study = dataclasses.replace(study, **fixed)

    dataset_specs = tuple(
        _build_spec(DatasetSpec, entry, i, "datasets", datasets.options_type, base)
        for i, entry in enumerate(_list_of_tables(raw, "datasets"))
    )
    network_specs = tuple(
        _build_spec(NetworkSpec, entry, i, "networks", networks.options_type, base)
        for i, entry in enumerate(_list_of_tables(raw, "networks", required=False))
    )
    if not dataset_specs:
        raise ConfigError("the config has no [[datasets]] entry; add at least one (see configs/demo.toml)")
    _check_unique([d.name for d in dataset_specs], "datasets")
    _check_unique([n.name for n in network_specs], "networks")

    subsets = raw.get("subsets", ["all"])
    if not isinstance(subsets, list) or not all(isinstance(s, str) for s in subsets) or not subsets:
        raise ConfigError("'subsets' must be a non-empty list of strings such as [\"all\", \"balanced-6\", \"min-10\"]")
    subsets = [normalise_subset(s) for s in subsets]
    _check_unique(subsets, "subsets")

    from analysis.unlabelled_config import check_unlabelled  # names_file and review_dir of unlabelled datasets

    try:
        check_unlabelled(dataset_specs, network_specs, study)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None

    sections = {
        name: build_dataclass(cls, raw.get(name, {}), where=f"[{name}]", base=base)
        for name, cls in _SECTION_TYPES.items()
    }
    # One list of junk labels for the study: identification reads [study] junk_labels.
    if isinstance(raw.get("identification"), Mapping) and "junk_labels" in raw["identification"]:
        raise ConfigError("[identification] junk_labels is not a key of that table; set [study] junk_labels "
                          "(one list for every analysis)")
    sections["identification"] = dataclasses.replace(sections["identification"], junk_labels=study.junk_labels)
    extraction = build_dataclass(extract.ExtractionParams, raw.get("extraction", {}), where="[extraction]", base=base)
    for problem in (config_checks.pair_key_error(config_checks.network_pairs(dataset_specs, network_specs)),
                    config_checks.page_name_error(d.name for d in dataset_specs),
                    config_checks.cache_dir_error(study.cache_dir, study.output_dir)):
        if problem:
            raise ConfigError(problem)
    paper, site = _publishing(raw, base, study.output_dir)
    return StudyConfig(
        source=source,
        study=study,
        datasets=dataset_specs,
        networks=network_specs,
        subsets=tuple(subsets),
        extraction=extraction,
        paper=paper,
        site=site,
        **sections,
    )


def _publishing(raw: Mapping[str, Any], base: Path, output_dir: Path) -> tuple[PaperSettings, SiteSettings]:
    """The ``[paper]`` and ``[site]`` tables (:mod:`analysis.publishing`); ``class`` is a Python keyword."""
    table = raw.get("paper", {})
    if isinstance(table, Mapping) and "class" in table:
        table = {("document_class" if k == "class" else k): v for k, v in table.items()}
    try:
        paper = build_dataclass(PaperSettings, table, where="[paper]", base=base)
    except ConfigError as exc:  # the user wrote "class"
        raise ConfigError(str(exc).replace("document_class", "class")) from None
    site = build_dataclass(SiteSettings, raw.get("site", {}), where="[site]", base=base)
    try:
        check_outside_outputs(output_dir, paper, site)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    return paper, site


def _build_spec(spec_cls, entry, index, table, options_type, base):
    where = f"[[{table}]] #{index + 1}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a table")
    for key in ("name", "kind"):
        if not isinstance(entry.get(key), str) or not entry.get(key):
            raise ConfigError(f"{where} needs a non-empty string '{key}'")
    name, kind = entry["name"], entry["kind"]
    where = f"[[{table}]] {name!r}"
    try:
        opts_cls = options_type(kind)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    rest = {k: v for k, v in entry.items() if k not in ("name", "kind")}
    if spec_cls is DatasetSpec:  # group keys are the same for every dataset kind
        from analysis.embedding.datasets.groups import GROUP_KEYS, GroupOptions

        _reject_unknown(rest, {f.name for f in dataclasses.fields(opts_cls)} | GROUP_KEYS, where)
        groups = build_dataclass(GroupOptions, {k: v for k, v in rest.items() if k in GROUP_KEYS}, where=where, base=base)
        rest = {k: v for k, v in rest.items() if k not in GROUP_KEYS}
        return spec_cls(name=name, kind=kind, options=build_dataclass(opts_cls, rest, where=where, base=base),
                        groups=groups)
    options = build_dataclass(opts_cls, rest, where=where, base=base)
    return spec_cls(name=name, kind=kind, options=options)


def _list_of_tables(raw, key, required=True):
    value = raw.get(key, [])
    if not isinstance(value, list):
        raise ConfigError(f"'{key}' must be an array of tables written [[{key}]]")
    return value


def _check_unique(names, what):
    seen = set()
    for n in names:
        if n in seen:
            raise ConfigError(f"{what}: the name {n!r} is used twice; names must be unique")
        seen.add(n)


def normalise_subset(text: str, where: str = "subsets") -> str:
    """The canonical spelling of a subset (surrounding whitespace removed, ``min-04`` -> ``min-4``).

    Raises :class:`ConfigError` for inner whitespace or non-ASCII digits (``"min-\u0664"``), which
    would otherwise give two cells for one subset.
    """
    s = text.strip()
    if not s.isascii() or any(c.isspace() for c in s):
        raise ConfigError(f"{where}: subset {text!r} may hold only ASCII letters, digits and '-' "
                          f"(e.g. 'min-4'), no spaces")
    try:
        spec = parse_subset(s)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    return {"all": "all", "balanced": f"balanced-{spec.low}", "min": f"min-{spec.low}"}.get(
        spec.kind, f"range-{spec.low}-{spec.high}")

