"""The study stage of the pipeline: config -> embeddings -> cached analyses (-> gallery faces).

:mod:`report.driver` calls this, then builds the page model and renders it. Each stage is cached
so that a second run with nothing changed recomputes nothing:

* embeddings: content-addressed :class:`analysis.embedding.store.EmbeddingStore`;
* analyses: :class:`joblib.Memory`, keyed on the content of the embeddings, the params and the
  seed (and the analysis function's code);
* gallery thumbnails (``[study] galleries = true`` only): :class:`joblib.Memory`, keyed on the
  extraction that found the faces and the faces chosen;
* figures: keyed on the plot function's module source and the plotted data (``report.render``);
* site and paper: ``mkdocs build`` / ``latexmk`` run only when their sources changed.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import joblib
import numpy as np
import pandas as pd

from analysis.embedding import datasets as dataset_adapters
from analysis.embedding.datasets import groups as group_columns
from analysis.config import DatasetSpec, StudyConfig
from analysis.statistics.galleries import GalleryParams, GallerySelection, select_gallery
from analysis.embedding.face_detections import face_detections
from analysis.embedding.store import EmbeddingStore, content_hash, embedding_hash, stable_hash
from analysis.statistics.subsets import parse_subset, select_subset
from analysis.embedding.synthetic import GENERATOR_VERSION, generate
from analysis.types import Cell, EmbeddingSet
from report.contexts import CellContext, DatasetContext
from report.steps import cell_steps, dataset_steps
from report.format import plural
from report.skip_reasons import no_face_message, subset_too_small
from report.code_digest import analysis_code_digest  # noqa: F401 - re-exported: part of the analysis cache key

log = logging.getLogger("atlas")


@dataclass(frozen=True, eq=False)
class DatasetInput:
    """Embeddings of one dataset (one set per network) and what was skipped on the way."""

    spec: DatasetSpec
    embeddings: dict[str, EmbeddingSet]
    skipped: pd.DataFrame  # columns: network, item, reason
    trace: dict[str, pd.DataFrame]  # network -> traceability table (image datasets)
    reused: dict[str, bool]
    family: str
    image_root: Path | None = None  # folder the manifest paths are relative to (image datasets)
    pairs: tuple[tuple[str, str, bool], ...] | None = None  # verification pairs (LFW protocol), items as in the embeddings
    naming: tuple = ()  # NamingRecord per network when an unlabelled dataset's clusters were named (names_file)


@dataclass
class BuildLog:
    """What a run did: counts of computed vs reused work, timings, warnings."""

    computed: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    models: list[Path] = field(default_factory=list)  # recogniser folders written for `predict`
    review: list[Path] = field(default_factory=list)  # face review folders (review_dir of unlabelled datasets)
    notes: list[str] = field(default_factory=list)  # what the build did that a user should know (names carried over)

    def record(self, what: str, reused: bool) -> None:
        (self.reused if reused else self.computed).append(what)


@dataclass(frozen=True, eq=False)
class StudyResults:
    """Everything the report is made of."""

    config: StudyConfig
    inputs: tuple[DatasetInput, ...]
    cells: tuple[Cell, ...]
    contexts: dict[Cell, CellContext]
    cell_results: dict[str, dict[Cell, Any]]  # step name -> cell -> result
    cell_skips: dict[str, dict[Cell, str]]  # step name -> cell -> reason
    dataset_results: dict[str, dict[str, Any]]  # step name -> dataset -> result
    compute_seconds: dict[str, float]  # "step/cell" -> seconds when first computed
    galleries: dict[Cell, "CellGallery"] = field(default_factory=dict)  # only with [study] galleries = true
    gallery_notes: tuple[str, ...] = ()  # why a dataset or network has no gallery, faces not re-read
    neighbours: dict[Cell, Any] = field(default_factory=dict)  # explorer: NeighbourLists of each cell's mapped rows
    detections: dict[str, Any] = field(default_factory=dict)  # dataset -> detection overlays (galleries = true only)


@dataclass(frozen=True, eq=False)
class CellGallery:
    """The faces a cell's gallery shows and their aligned thumbnails.

    ``thumbnails`` is an :class:`analysis.embedding.thumbnails.Thumbnails` keyed by item.
    """

    selection: GallerySelection
    thumbnails: Any


def family_of(spec: DatasetSpec) -> str:
    """``synthetic``, ``embeddings`` or ``images``: how a dataset becomes embeddings."""
    return getattr(spec.options, "FAMILY", "synthetic" if spec.kind == "synthetic" else "images")


def load_inputs(config: StudyConfig, store: EmbeddingStore, build: BuildLog, progress: bool) -> tuple[DatasetInput, ...]:
    """Embeddings of every dataset under every applicable network (cached)."""
    out = []
    for spec in config.datasets:
        family = family_of(spec)
        t0 = time.perf_counter()
        if family == "synthetic":
            nets = {n.name: n.options for n in config.networks if n.kind == "synthetic"}
            if not nets:
                raise ValueError(
                    f"dataset {spec.name!r} is synthetic but the config has no [[networks]] of kind 'synthetic'; add one"
                )
            key = stable_hash(["synthetic", GENERATOR_VERSION, spec.name, repr(spec.options),
                               {k: repr(v) for k, v in nets.items()}, config.study.seed])
            embs, reused = {}, {}
            for name in sorted(nets):
                sub_key = f"{key}-{stable_hash(name)}"
                if sub_key not in store:
                    for net_name, emb in generate(spec.options, nets, spec.name, config.study.seed).items():
                        store.save(f"{key}-{stable_hash(net_name)}", emb)
                    reused[name] = False
                else:
                    reused[name] = True
                embs[name] = store.load(sub_key)
            embs = {name: _with_groups(spec, e, *group_columns.group_data(_group_options(spec), e.items, generated=e.groups))
                    for name, e in embs.items()}
            inp = DatasetInput(spec, embs, pd.DataFrame(columns=["network", "item", "reason"]), {}, reused, family)
        elif family == "embeddings":
            loaded = dataset_adapters.load_embeddings(spec.name, spec.options)
            source = Path(getattr(spec.options, "embeddings_file", None) or getattr(spec.options, "labels_file", "")).name
            emb = _with_groups(spec, loaded.embeddings, *group_columns.group_data(
                _group_options(spec), loaded.embeddings.items, extra=loaded.columns, extra_source=source))
            skipped = loaded.skipped.assign(network=emb.network)
            inp = DatasetInput(spec, {emb.network: emb}, skipped, {}, {emb.network: False}, family)
        else:
            from analysis.embedding import extract

            manifest = dataset_adapters.build_manifest(spec.name, spec.options)
            # Group columns are checked before any face is extracted, and attached after (and after naming).
            group_data = group_columns.manifest_group_data(_group_options(spec), spec.options, manifest)
            group_columns.check_group_columns(spec.name, _group_options(spec), group_data[1])
            image_nets = [n for n in config.networks if getattr(n.options, "FAMILY", "images") == "images"]
            if not image_nets:
                raise ValueError(f"dataset {spec.name!r} holds images but the config has no image [[networks]] (arcface, dlib...)")
            embs, traces, skips, reused = {}, {}, [manifest.skipped.assign(network="(all)")], {}
            for net in image_nets:
                res = extract.extract_embeddings(
                    manifest, spec.name, net.name, net.options, config.extraction, config.study.cache_dir, progress=progress
                )
                if res.embeddings.n_samples == 0:  # nothing to analyse; say why instead of failing in an analysis
                    raise ValueError(no_face_message(spec.name, net, manifest, res.skipped, config.extraction))
                embs[net.name] = res.embeddings
                traces[net.name] = res.trace
                skips.append(res.skipped.assign(network=net.name))
                reused[net.name] = res.reused
            skipped = pd.concat([s for s in skips if len(s)], ignore_index=True) if any(len(s) for s in skips) else skips[0]
            naming = ()
            if getattr(spec.options, "names_file", None) is not None:  # unlabelled faces named by the user
                from report.naming import name_clusters, naming_notes

                embs, naming = name_clusters(
                    embs, spec.options.names_file, config.discovery, config.study.seed, config.study.cache_dir,
                    dataset=spec.name, manifest=manifest.frame, traces=traces, output_dir=config.study.output_dir,
                    networks=[n.name for n in config.networks], junk_labels=config.study.junk_labels)
                build.notes.extend(naming_notes(spec.name, naming))
                build.warnings.extend(f"names of {spec.name}/{r.network}: {w.text}" for r in naming for w in r.carry.warnings)
            embs = {name: _with_groups(spec, e, *group_data) for name, e in embs.items()}
            pairs = None
            if manifest.pairs is not None and len(manifest.pairs):
                pairs = tuple(zip(manifest.pairs["path_a"].astype(str), manifest.pairs["path_b"].astype(str),
                                  manifest.pairs["same"].astype(bool)))
            inp = DatasetInput(spec, embs, skipped, traces, reused, family, image_root=Path(manifest.root), pairs=pairs,
                               naming=naming)
        for net_name, was_reused in sorted(inp.reused.items()):
            build.record(f"embeddings {spec.name}/{net_name}", was_reused)
        build.timings[f"embeddings {spec.name}"] = time.perf_counter() - t0
        out.append(inp)
    return tuple(out)


def _group_options(spec: DatasetSpec) -> group_columns.GroupOptions:
    return spec.groups if spec.groups is not None else group_columns.GroupOptions()


def _with_groups(spec: DatasetSpec, emb: EmbeddingSet, data: pd.DataFrame, sources: dict) -> EmbeddingSet:
    """``emb`` with the group columns its dataset entry asks for (none: without any)."""
    return group_columns.attach_groups(spec.name, _group_options(spec), emb, data, sources)


def without_groups(emb: EmbeddingSet) -> EmbeddingSet:
    """``emb`` as the analyses that read no group column see it: without the columns and their provenance,
    so that the analysis cache keys on the vectors and labels alone."""
    if not emb.groups and "group_sources" not in emb.meta:
        return emb
    return dataclasses.replace(emb, groups=(), meta={k: v for k, v in emb.meta.items() if k != "group_sources"})


#: Why a labelled analysis did not run on an unlabelled dataset (one line on its page).
NEEDS_LABELS = ("this analysis needs identity labels and the faces are unlabelled; name the discovered clusters "
                "(names_file in the dataset config) and rebuild to run it")


def is_unlabelled(emb: EmbeddingSet) -> bool:
    """True for the faces of an unlabelled dataset before naming (every identity is the placeholder)."""
    return emb.n_samples > 0 and bool(np.all(emb.identities == dataset_adapters.UNLABELLED))


def _timed(fn: Callable) -> Callable:
    """Wrap a compute function so that its first computation time is cached with its result."""

    def run(*args, **kwargs):
        t0 = time.perf_counter()
        result = fn(*args, **kwargs)
        return result, time.perf_counter() - t0

    # The name is joblib's cache folder: the function and the code version of the statistics half.
    run.__name__ = f"timed_{fn.__module__}_{fn.__qualname__}_{analysis_code_digest()}".replace(".", "_")
    run.__qualname__ = run.__name__
    run.__module__ = "report.study"
    return run


def run_cached_step(compute: Callable, cache_dir: str, args: tuple, kwargs: dict) -> tuple[str, Any, float]:
    """One analysis through the analysis cache: ``("ok", result, seconds)`` or ``("skip", reason, 0)``.

    Module-level so that loky and Dask workers can run it; the cache folder is shared with them
    (joblib.Memory writes each entry atomically, so concurrent tasks never see half an entry).
    """
    cached = joblib.Memory(Path(cache_dir) / "analyses", verbose=0).cache(_timed(compute))
    try:
        result, secs = cached(*args, **kwargs)
    except ValueError as exc:  # an analysis that cannot run on this input says why
        return "skip", str(exc), 0.0
    return "ok", result, secs


# Relative cost of each analysis per row (measured on the demo), so that the longest tasks are
# handed out first and the workers finish together.
_STEP_COST = {"manifold": 6.0, "classifiers": 4.0, "clustering": 4.0, "discovery": 4.0, "audit": 2.0,
              "similarity": 1.0, "geometry": 1.0, "crossnet": 2.0}


@dataclass(frozen=True, eq=False)
class _Task:
    step: Any  # CellStep or DatasetStep
    key: Any  # Cell, or the dataset name for dataset steps
    args: tuple
    kwargs: dict
    rows: int


def compute_all(config: StudyConfig, inputs, build: BuildLog, progress: bool) -> StudyResults:
    """Run every enabled analysis on every cell, through the analysis cache.

    Cached results are loaded here; the others run as independent tasks on ``[study] backend``
    (:mod:`report.backend`: loky processes by default, or a Dask cluster), longest first.
    """
    from report import backend as backends

    cache_dir = str(config.study.cache_dir)
    memory = joblib.Memory(Path(cache_dir) / "analyses", verbose=0)
    seed = config.study.seed
    cells, contexts = [], {}
    cell_results: dict[str, dict[Cell, Any]] = {}
    cell_skips: dict[str, dict[Cell, str]] = {}
    dataset_results: dict[str, dict[str, Any]] = {}
    seconds: dict[str, float] = {}
    steps = [s for s in cell_steps() if s.enabled(config)]
    tasks: list[_Task] = []
    for inp in inputs:
        for net in sorted(inp.embeddings):
            for subset in config.subsets:
                emb = inp.embeddings[net]
                spec = parse_subset(subset)
                part = select_subset(emb, spec, random_state=seed)
                cell = Cell(inp.spec.name, net, subset)
                unlabelled = is_unlabelled(part)
                if len(np.unique(part.identities)) < 2 and not unlabelled:
                    reason = subset_too_small(subset, part, emb)
                    for step in steps:
                        cell_skips.setdefault(step.name, {})[cell] = reason
                    build.warnings.append(f"{cell.dataset}/{cell.network}/{subset} not analysed: {reason}")
                    continue
                cells.append(cell)
                bare = without_groups(part)
                contexts[cell] = CellContext(cell, spec.description, emb.synthetic, emb.n_dims, seed,
                                             config.study.junk_labels)
                for step in steps:
                    if step.applies is not None and not step.applies(part):  # e.g. differentials without groups
                        continue
                    if (step.labels == "unlabelled") != unlabelled:
                        if unlabelled:  # a labelled analysis on unlabelled faces: say why, once per cell
                            cell_skips.setdefault(step.name, {})[cell] = NEEDS_LABELS
                        continue
                    # A dataset's verification pairs (LFW) are a protocol on the whole dataset: only the
                    # "all" subset's similarity analysis scores them.
                    extra = {"pairs": inp.pairs} if step.name == "similarity" and inp.pairs and subset == "all" else {}
                    if step.name == "audit" and len(inp.trace.get(net, ())):  # detection doubts apart from label doubts
                        extra = {"detection": face_detections(inp.trace[net], str(emb.meta.get("detector", "")))}
                    tasks.append(_Task(step, cell, (part if step.groups else bare, step.params(config), seed), extra,
                                       part.n_samples))
    for step in (s for s in dataset_steps() if s.enabled(config)):
        for inp in inputs:
            rows = sum(e.n_samples for e in inp.embeddings.values())
            embs = {name: without_groups(e) for name, e in inp.embeddings.items()}
            tasks.append(_Task(step, inp.spec.name, (embs, step.params(config), seed), {}, rows))

    hits = [memory.cache(_timed(t.step.compute)).check_call_in_cache(*t.args, **t.kwargs) for t in tasks]
    outcomes: list[Any] = [None] * len(tasks)
    for i, t in enumerate(tasks):
        if hits[i]:
            outcomes[i] = run_cached_step(t.step.compute, cache_dir, t.args, t.kwargs)
    # Identical tasks (a subset that keeps every row of another, e.g. min-2 when no identity has a
    # single image) run once: run in parallel, both would compute and the cache would keep the
    # seconds of whichever wrote last, so a rebuild would report other timings than the build.
    first_of: dict[str, int] = {}
    same_as: dict[int, int] = {}
    for i in range(len(tasks)):
        if not hits[i]:
            key = joblib.hash((tasks[i].step.name, tasks[i].args, tasks[i].kwargs))
            same_as[i] = first_of.setdefault(key, i)
    todo = sorted((i for i, first in same_as.items() if first == i),
                  key=lambda i: (-_STEP_COST.get(tasks[i].step.name, 1.0) * tasks[i].rows, i))
    study = config.study
    n_workers = backends.worker_count(study.n_jobs)
    with (backends.dask_client(study.scheduler, n_workers) if study.backend == "dask" and todo
          else contextlib.nullcontext()) as client:
        done = backends.run_tasks(
            run_cached_step, [(tasks[i].step.compute, cache_dir, tasks[i].args, tasks[i].kwargs) for i in todo],
            study.backend, study.n_jobs, client=client, progress=progress, desc="analyses")
    for i, outcome in zip(todo, done):
        outcomes[i] = outcome
    for i, first in same_as.items():
        outcomes[i] = outcomes[first]
    # Results, timings and warnings in task order whatever order the workers finished in.
    for t, hit, (status, value, secs) in zip(tasks, hits, outcomes):
        if isinstance(t.key, Cell):
            cell, where = t.key, f"{t.key.dataset}/{t.key.network}/{t.key.subset}"
            if status == "skip":
                cell_skips.setdefault(t.step.name, {})[cell] = value
                build.warnings.append(f"{t.step.name} skipped on {where}: {value}")
                continue
            cell_results.setdefault(t.step.name, {})[cell] = value
        else:  # dataset step, e.g. networks that share no item: say so, keep going
            where = t.key
            if status == "skip":
                build.warnings.append(f"{t.step.name} skipped on dataset {where}: {value}")
                continue
            dataset_results.setdefault(t.step.name, {})[where] = value
        seconds[f"{t.step.name}/{where}"] = secs
        build.record(f"{t.step.name} {where}", hit)
    return StudyResults(config, tuple(inputs), tuple(cells), contexts, cell_results, cell_skips, dataset_results, seconds)


def gallery_cell(config: StudyConfig, inp: DatasetInput, network: str, results: StudyResults) -> Cell | None:
    """The cell whose gallery is drawn for one (dataset, network): the first analysed subset.

    One gallery per (dataset, network), not per subset: the faces are the same images in every
    subset, and publishing as few face images as the page needs is the point of the switch.
    """
    for subset in config.subsets:
        cell = Cell(inp.spec.name, network, subset)
        if cell in results.contexts:
            return cell
    return None


def _cut_thumbnails(root: Path, faces: pd.DataFrame, faces_key: str, size: int, source_key: str, version: str):
    """Cached body of :func:`add_galleries`; the cache ignores ``root`` and ``faces``, keyed by the rest."""
    from analysis.embedding.thumbnails import load_thumbnails

    return load_thumbnails(root, faces, list(faces["item"]), size=size)


def add_galleries(config: StudyConfig, results: StudyResults, build: BuildLog) -> StudyResults:
    """Choose the faces of every gallery and cut their thumbnails (``[study] galleries = true``).

    Datasets without face images (synthetic, precomputed embeddings) get no gallery; the
    reason is recorded in ``gallery_notes`` (shown on the Overview page) and in the build log,
    never raised: a study mixing image and embedding datasets is normal.

    Thumbnails are cached by the extraction key (which covers the content of every image) and
    the chosen faces' trace rows, not by the dataset's folder: moving the images keeps the cache.
    """
    from analysis.embedding.thumbnails import FACE_COLUMNS, THUMBNAIL_VERSION, kept_faces

    params = GalleryParams()
    # Keyed by content: joblib's own hash of the trace differs between a fresh extraction and one
    # loaded from the store (dtypes), which would cut the thumbnails again on every rebuild.
    cut = joblib.Memory(Path(config.study.cache_dir) / "galleries", verbose=0).cache(
        _cut_thumbnails, ignore=["root", "faces"])
    galleries: dict[Cell, CellGallery] = {}
    notes: list[str] = []
    for inp in results.inputs:
        name = inp.spec.name
        if inp.family != "images" or inp.image_root is None:
            what = "synthetic vectors" if inp.family == "synthetic" else "precomputed embeddings"
            notes.append(f"dataset {name}: no gallery, its inputs are {what}, not face images")
            continue
        for net in sorted(inp.embeddings):
            cell = gallery_cell(config, inp, net, results)
            if cell is None:
                notes.append(f"{name} / {net}: no gallery, no subset of it could be analysed")
                continue
            part = select_subset(inp.embeddings[net], parse_subset(cell.subset), random_state=config.study.seed)
            found = [results.cell_results.get(step, {}).get(cell) for step in ("clustering", "classifiers", "audit")]
            selection = select_gallery(part, *found, params=params, ignore=config.audit.ignore_identities)
            faces = kept_faces(inp.trace[net], [f.item for f in selection.faces()])
            faces_key = content_hash(faces[list(FACE_COLUMNS)])
            args = (inp.image_root, faces, faces_key, params.thumbnail_size,
                    inp.embeddings[net].meta.get("extraction_key", ""), THUMBNAIL_VERSION)
            hit = cut.check_call_in_cache(*args)
            thumbs = cut(*args)
            build.record(f"gallery {name}/{net}/{cell.subset}", hit)
            if thumbs.missing:
                reasons = sorted(set(thumbs.missing.values()))
                notes.append(f"{name} / {net}: {plural(len(thumbs.missing), 'face')} could not be re-read for the gallery "
                             f"({'; '.join(reasons)})")
            galleries[cell] = CellGallery(selection, thumbs)
    build.warnings.extend(notes)
    return dataclasses.replace(results, galleries=galleries, gallery_notes=tuple(notes))


def dataset_context(inp: DatasetInput, seed: int) -> DatasetContext:
    return DatasetContext(
        dataset=inp.spec.name,
        networks=tuple(sorted(inp.embeddings)),
        synthetic=any(e.synthetic for e in inp.embeddings.values()),
        seed=seed,
    )


def embedding_summary(emb: EmbeddingSet) -> dict[str, Any]:
    """Metadata of an embedding set for the Downloads and Reproducibility pages."""
    names, counts = np.unique(emb.identities, return_counts=True)
    return {
        "dataset": emb.dataset,
        "network": emb.network,
        "synthetic": emb.synthetic,
        "n_samples": emb.n_samples,
        "n_dims": emb.n_dims,
        "n_identities": int(len(names)),
        "images_per_identity_min": int(counts.min()),
        "images_per_identity_median": float(np.median(counts)),
        "images_per_identity_max": int(counts.max()),
        "content_hash": embedding_hash(emb),
        "provenance": dict(sorted(emb.meta.items())),
    }

