"""The Explorer page of one cell: an interactive 2-D map (PCA / t-SNE / UMAP) of the mapped embeddings.

The points are the rows the manifold analysis mapped (a seeded sample of at most
``[manifold] max_samples``); each carries its identity, item name, KMeans cluster (full space),
the audit's flags (suspected mislabel, detection doubt, near-duplicate), its raw embedding
norm, its detector score (image datasets) and its nearest neighbours in the full space
(:mod:`analysis.statistics.neighbours`, computed at build time). No face pixel and no vector
is part of it: the vectors are published, once per (dataset, network), only with
``[study] publish_vectors = true`` (:mod:`report.exports`).

Colour-by is a list of columns (:attr:`report.model.Explorer.colour_by`): a numeric column gets
a colour scale, any other one a colour per category, so one more per-row column is one more
entry of :func:`colour_columns` (``extra_columns`` of :func:`explorer_points`).
"""
from __future__ import annotations

from typing import Mapping
from urllib.parse import quote

import numpy as np
import pandas as pd

from analysis.statistics.audit.audit import AuditResult
from analysis.statistics.manifold import ManifoldResult
from report.contexts import CellContext
from report.escape import slugify
from report.model import Code, Explorer, P, Page, Section, Strong, Table

#: Flag names as they appear in the explorer's hover, colour legend and the exports.
MISLABEL = "suspected mislabel"
DETECTION = "detection doubt"
DUPLICATE = "near-duplicate"
FLAGS = (MISLABEL, DETECTION, DUPLICATE)
#: The audit table that lists the points of each flag (key suffix of the audit page's tables).
FLAG_TABLES = {MISLABEL: "audit-mislabels", DETECTION: "audit-detection", DUPLICATE: "audit-duplicates"}

NORM = "embedding norm"
DETECTION_SCORE = "detection score"


def audit_flags(n_rows: int, audit: AuditResult | None) -> np.ndarray:
    """Per input row, the audit flags joined by ``"; "`` (``""`` when none).

    A suspected mislabel whose face raises a detection doubt is a detection suspect only, as
    on the audit page, so that every flag names the audit table the point is listed in.
    """
    on = {name: np.zeros(n_rows, dtype=bool) for name in FLAGS}
    if audit is not None:
        on[MISLABEL][audit.images.rows[audit.label_suspects]] = True
        if audit.detection is not None:
            on[DETECTION][audit.images.rows[audit.detection.suspect]] = True
        on[DUPLICATE][audit.duplicates.first] = True
        on[DUPLICATE][audit.duplicates.second] = True
    out = np.full(n_rows, "", dtype=object)
    for i in np.nonzero(np.logical_or.reduce(list(on.values())))[0]:
        out[i] = "; ".join(name for name in FLAGS if on[name][i])
    return out


def explorer_points(m: ManifoldResult, items: np.ndarray, audit: AuditResult | None, *,
                    vectors: np.ndarray | None = None, rows: np.ndarray | None = None,
                    extra_columns: Mapping[str, np.ndarray] | None = None) -> pd.DataFrame:
    """One row per mapped embedding: its row, identity, item, cluster, flags, scores and map coordinates.

    Parameters
    ----------
    m : ManifoldResult
    items : ndarray of shape (n_samples,)
        Item names of the cell's rows (``m.sample_index`` indexes them).
    audit : AuditResult or None
        The same cell's audit (flags are empty without it).
    vectors : ndarray of shape (n_samples, n_dims), optional
        The cell's raw vectors: gives the ``embedding norm`` column.
    rows : ndarray of shape (n_samples,), optional
        Position of each of the cell's rows in its (dataset, network) embedding set (default:
        the cell's own positions, right for the ``all`` subset).
    extra_columns : mapping of str to ndarray of shape (n_samples,), optional
        Further per-row columns of the cell's rows (``detection score``; the group columns of a
        differentials study), numeric or categorical, offered for colouring.
    """
    sample = m.sample_index
    frame = pd.DataFrame({
        "row": (np.arange(m.n_samples) if rows is None else np.asarray(rows))[sample].astype(np.int64),
        "identity": m.names[m.labels].astype(str),
        "item": np.asarray(items)[sample].astype(str),
        "cluster": m.clusters.astype(np.int64),
        "flags": audit_flags(m.n_samples, audit)[sample].astype(str),
    })
    if vectors is not None:
        frame[NORM] = np.linalg.norm(np.asarray(vectors, np.float64)[sample], axis=1)
    for name, values in sorted((extra_columns or {}).items()):
        values = np.asarray(values)[sample]
        frame[name] = values.astype(np.float64) if values.dtype.kind in "iuf" else values.astype(str)
    for mp in m.maps:
        frame[f"{mp.title} x"] = np.round(mp.coords[:, 0].astype(np.float64), 4)
        frame[f"{mp.title} y"] = np.round(mp.coords[:, 1].astype(np.float64), 4)
    return frame


def colour_columns(points: pd.DataFrame) -> tuple[tuple[str, str], ...]:
    """(menu label, column) of every column the map can be coloured by, in menu order."""
    fixed = (("identity", "identity"), ("KMeans cluster", "cluster"), ("audit status", "flags"))
    known = {"row", "identity", "item", "cluster", "flags"}
    maps = {c for c in points.columns if c.endswith((" x", " y"))}
    rest = [c for c in points.columns if c not in known and c not in maps]
    # A numeric column without a single finite value (no detector score at all) offers nothing.
    # (Text columns are pandas' string dtype, not object, under pandas 3: ask for numbers instead.)
    rest = [c for c in rest if not pd.api.types.is_numeric_dtype(points[c])
            or np.isfinite(points[c].to_numpy(np.float64)).any()]
    return fixed + tuple((c, c) for c in rest)


def page_file(path: tuple[str, ...]) -> str:
    """Docs-relative Markdown file of a cell page (as :func:`report.site.page_file` names it)."""
    return "/".join(slugify(p) for p in path) + ".md"


def explorer_link(ctx: CellContext, item: str | None = None, identity: str | None = None) -> str:
    """Docs-relative link to the cell's explorer showing one item (its point) or one identity."""
    target = page_file((*ctx.path, "explorer"))
    if item is not None:
        return f"{target}#item={quote(str(item), safe='')}"
    if identity is not None:
        return f"{target}#identity={quote(str(identity), safe='')}"
    return target


def page(ctx: CellContext, m: ManifoldResult, vectors: np.ndarray, items: np.ndarray,
         audit: AuditResult | None, *, rows: np.ndarray | None = None, neighbours=None,
         extra_columns: Mapping[str, np.ndarray] | None = None, vectors_published: bool = False) -> Page:
    """The explorer page of one cell.

    ``vectors`` and ``items`` are the cell's rows (the manifold analysis' input), raw;
    ``neighbours`` the :class:`~analysis.statistics.neighbours.NeighbourLists` of the mapped rows.
    """
    points = explorer_points(m, items, audit, vectors=vectors, rows=rows, extra_columns=extra_columns)
    n_flagged = int((points["flags"] != "").sum())
    key = ctx.key("explorer")
    colours = colour_columns(points)
    links: dict[str, str] = {}
    if audit is not None:  # the audit page of the same cell sits beside the explorer page
        links["audit"] = "audit.html"
        links.update({f"audit#{flag}": ctx.key(table) for flag, table in FLAG_TABLES.items()})
    k = neighbours.k if neighbours is not None else 0
    explorer = Explorer(
        key=key,
        caption=(f"{len(points):,d} embeddings of {ctx.label}. Switch the map (PCA, t-SNE, UMAP) and colour by any column "
                 f"({', '.join(label for label, _ in colours)}); type an identity to highlight it. Click a point for its "
                 f"{k} nearest neighbours in the full space, with their cosine; choose box or lasso selection to list "
                 "points and download them as CSV. Drag to pan, scroll to zoom, double-click to reset."),
        points=points,
        colour_by=colours,
        neighbours=neighbours,
        source=(ctx.cell.dataset, ctx.cell.network, ctx.cell.subset),
        links=links,
    )
    vectors_text = (("The vectors of every row are in the dataset's vectors file on the Downloads page ",
                     "(publish_vectors = true); this table's ", Code("row"), " column indexes it.")
                    if vectors_published else
                    ("Embedding vectors are not published (biometric templates; ", Code("[study] publish_vectors = true"),
                     " publishes them), so the file holds coordinates, labels and scores only."))
    intro = (
        P("Cell ", Strong(ctx.label), f" ({ctx.subset_description}): every mapped embedding as a point. Colouring by "
          "identity or cluster shows the ten largest groups in their own colours and every other one in grey, so that no "
          "colour stands for two groups; the search box picks out any identity. ",
          f"{n_flagged:,d} of the points carry an audit flag; a flagged point links to its row on the Label audit page, "
          "whose suspect tables link back here."),
        explorer,
        P("The points with their coordinates, labels and scores are in ", Code(f"downloads/{key}.parquet"), " (open it with ",
          Code(f"embedding-atlas {key}.parquet --x 'PCA x' --y 'PCA y'"), "). ", *vectors_text),
    )
    about = [
        P("Coordinates are those of the Manifold page of this cell (same sample, same seed): PCA is linear, t-SNE and "
          "UMAP keep local neighbourhoods; distances between far-apart islands carry little meaning. The nearest "
          "neighbours of a point are found among the mapped points by cosine of the L2-normalised embeddings, exactly, "
          "so they are the network's view of the point, not the map's."),
    ]
    if len(points) < m.n_samples:
        about.append(P(f"The map shows a seeded sample of {len(points):,d} of the cell's {m.n_samples:,d} embeddings "
                       "([manifold] max_samples); neighbours are searched within the sample."))
    return Page(path=(*ctx.path, "explorer"), title="Explorer", intro=intro, sections=(Section("About the maps", tuple(about)),),
                synthetic=ctx.synthetic, nav_titles=ctx.nav_titles)


def link_audit_page(page_: Page, ctx: CellContext, mapped_items) -> Page:
    """The audit page with every row of its suspect tables linked to its point on the explorer.

    Items not on the map (a cell larger than the manifold sample) stay unlinked; identity pairs
    and split identities link to the explorer with that identity highlighted.
    """
    import dataclasses

    mapped = set(mapped_items)
    item_tables = {ctx.key(t) for t in FLAG_TABLES.values()}
    identity_tables = {ctx.key("audit-merged"), ctx.key("audit-split")}

    def linked(b):
        if not isinstance(b, Table) or b.key not in item_tables | identity_tables:
            return b
        links = {}
        for col in b.frame.columns:
            values = b.frame[col].astype(str).tolist()
            if b.key in item_tables and col in ("item", "item A", "item B"):
                links[col] = tuple(explorer_link(ctx, item=v) if v in mapped else None for v in values)
            elif b.key in identity_tables and col in ("identity", "identity A", "identity B"):
                links[col] = tuple(explorer_link(ctx, identity=v) for v in values)
        return dataclasses.replace(b, links=links) if links else b

    return dataclasses.replace(
        page_, intro=tuple(linked(b) for b in page_.intro),
        sections=tuple(dataclasses.replace(s, blocks=tuple(linked(b) for b in s.blocks)) for s in page_.sections))


#: Columns the explorer computes itself: a group column of the same name is shown as ``<name> (group)``.
RESERVED = frozenset({"row", "identity", "item", "cluster", "flags", NORM, DETECTION_SCORE})


def group_label(name: str, taken) -> str:
    """The explorer's column for group column ``name``: the name itself unless it would replace one of the
    explorer's own columns (``identity``, a map's ``... x``) or one already taken."""
    label = name
    if label in RESERVED or label.endswith((" x", " y")) or label in taken:
        label = f"{name} (group)"
    n = 2
    while label in RESERVED or label in taken:
        label, n = f"{name} (group {n})", n + 1
    return label


def cell_page(results, cell) -> Page | None:
    """The explorer page of ``cell`` from the study results; None when its manifold analysis did not run."""
    from analysis.embedding.face_detections import kept_scores
    from analysis.statistics.verification.differentials.results import MISSING_GROUP
    from analysis.statistics.subsets import parse_subset, select_subset

    m = results.cell_results.get("manifold", {}).get(cell)
    if m is None:
        return None
    inp = next(i for i in results.inputs if i.spec.name == cell.dataset)
    emb = inp.embeddings[cell.network]
    part = select_subset(emb, parse_subset(cell.subset), random_state=results.config.study.seed)
    position = {item: i for i, item in enumerate(emb.items.tolist())}
    rows = np.array([position[i] for i in part.items.tolist()], dtype=np.int64)
    audit = results.cell_results.get("audit", {}).get(cell)
    extra: dict[str, np.ndarray] = {}
    trace = inp.trace.get(cell.network)
    if trace is not None and len(trace):
        extra[DETECTION_SCORE] = kept_scores(trace, part.items)
    for name, values in emb.groups:  # the differentials' group columns (sex, age band, session ...)
        values = np.asarray(values)[rows].astype(str)
        extra[group_label(name, extra)] = np.where(values == "", MISSING_GROUP, values)
    return page(results.contexts[cell], m, part.vectors, part.items, audit, rows=rows,
                neighbours=getattr(results, "neighbours", {}).get(cell), extra_columns=extra,
                vectors_published=bool(getattr(results.config.study, "publish_vectors", False)))
