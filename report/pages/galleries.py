"""Gallery pages: montages of aligned faces next to a cell's clusters, confusions and suspects.

Built only with ``[study] galleries = true`` and only for datasets of face images (see
``report.study.add_galleries``); with the default ``false`` no page of this module exists
and no face pixel is written anywhere.

Each montage is an ordinary :class:`~report.model.Figure`: drawn by matplotlib from the
thumbnails (so it is cached and written like every other figure, under ``figures/``), with
identity names drawn as plain text (``parse_math=False``: a ``$`` in a name is a dollar sign,
not mathtext) and repeated, escaped by the renderers, in the captions and tables.

Gallery figures are site-only (``in_paper=False``): a paper is redistributed as a file that
cannot be recalled (preprint servers, mail), journals require consent for identifiable faces,
and its purpose is the aggregate statistics. Keeping the paper free of face pixels whatever
the switch also keeps that guarantee simple to state and to test.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.statistics.galleries import Face, GallerySelection
from report import plotting
from report.format import plural
from report.escape import truncate
from report.model import Admonition, Bullets, Code, Figure, P, Page, Section, Strong, Table, spans
from report.contexts import CellContext

#: Longest identity name drawn in a tile (the tables keep the full name).
TILE_TITLE_LEN = 16
#: Longest identity name in a caption.
CAPTION_NAME_LEN = 40

BIOMETRIC_WARNING = (
    "This page shows photographs of faces, which are biometric data (GDPR article 9 and similar laws), "
    "because the study config sets galleries = true. Publish it only if you may redistribute these images: "
    "datasets such as FRGC forbid it. With galleries = false (the default) no face image reaches the site "
    "or the paper."
)


# --------------------------------------------------------------------------- montage figure
@dataclass(frozen=True, eq=False)
class Tile:
    """One face of a montage: its thumbnail (None when it could not be re-read) and title."""

    image: np.ndarray | None
    title: str
    color: tuple[float, float, float, float]
    emphasis: bool = False


@dataclass(frozen=True, eq=False)
class MontageRow:
    """A row of tiles with a label on its left; a None tile leaves a gap."""

    label: str
    tiles: tuple[Tile | None, ...]


@dataclass(frozen=True, eq=False)
class Montage:
    """Rows of face tiles; ``size`` is the side of the thumbnails."""

    rows: tuple[MontageRow, ...]
    size: int


def plot_montage(m: Montage):
    """Grid of face thumbnails framed in their identity's colour, titled with the identity."""
    ncols = max(len(r.tiles) for r in m.rows)
    fig, axes = plotting.figure(1.2 + 0.85 * ncols, 0.3 + 1.0 * len(m.rows), ncols=ncols, nrows=len(m.rows),
                                squeeze=False)
    blank = np.full((m.size, m.size, 3), 235, np.uint8)
    for i, row in enumerate(m.rows):
        for j in range(ncols):
            ax = axes[i][j]
            tile = row.tiles[j] if j < len(row.tiles) else None
            if tile is None and j > 0:
                ax.axis("off")
                continue
            ax.grid(False)
            ax.set_xticks([])
            ax.set_yticks([])
            if tile is None:
                ax.imshow(blank)
            else:
                ax.imshow(tile.image if tile.image is not None else blank, interpolation="antialiased")
                if tile.image is None:
                    ax.text(0.5, 0.5, "not\navailable", transform=ax.transAxes, ha="center", va="center", fontsize=6,
                            color="#666666", parse_math=False)
                ax.set_title(truncate(tile.title, TILE_TITLE_LEN), fontsize=6, pad=2, parse_math=False,
                             fontweight="bold" if tile.emphasis else "normal")
                for spine in ax.spines.values():
                    spine.set_visible(True)
                    # Black is in no identity's palette: the emphasised face stands out in any row.
                    spine.set_color("black" if tile.emphasis else tile.color)
                    spine.set_linewidth(3.5 if tile.emphasis else 1.5)
            if j == 0:
                ax.set_ylabel(row.label, rotation=0, ha="right", va="center", fontsize=7, labelpad=6, parse_math=False)
    return fig


def _tile(face: Face, thumbnails, emphasis: bool = False) -> Tile:
    return Tile(thumbnails.images.get(face.item), face.identity, plotting.identity_color(face.identity), emphasis)


def _padded(tiles: list, width: int) -> list:
    """``tiles`` followed by gaps up to ``width``, so that the next group starts in the same column in every row."""
    return tiles + [None] * (width - len(tiles))


def _names(names) -> str:
    return ", ".join(truncate(n, CAPTION_NAME_LEN) for n in names)


# --------------------------------------------------------------------------- sections
def cluster_section(ctx: CellContext, sel: GallerySelection, thumbs) -> Section:
    if not sel.clusters:
        return Section("Clusters", (P(*(_notes(sel, "cluster") or ("No cluster to show.",))),))
    rows = tuple(
        MontageRow(f"cluster {c.cluster}\n{c.size} faces\n{c.purity:.0%} pure", tuple(_tile(f, thumbs) for f in c.faces))
        for c in sel.clusters
    )
    frame = pd.DataFrame({
        "row": np.arange(1, len(sel.clusters) + 1),
        "cluster": [c.cluster for c in sel.clusters],
        "faces": [c.size for c in sel.clusters],
        "identities": [c.n_identities for c in sel.clusters],
        "majority identity": [c.majority for c in sel.clusters],
        "purity": [c.purity for c in sel.clusters],
        "faces shown": ["; ".join(f.identity for f in c.faces) for c in sel.clusters],
    })
    return Section("Clusters", (
        P(f"Clusters of the cell's clustering ({sel.cluster_source}, about one cluster per identity). Clusters holding "
          "the most faces of other identities than their majority one come first, then the largest. Each row shows "
          "faces of every identity of the cluster in turn (majority first), those closest to the cluster centre "
          "first; frames are coloured by identity."),
        Figure(ctx.key("gallery-clusters"),
               f"Faces of {len(rows)} clusters ({ctx.label}); majority identities: "
               f"{_names(c.majority for c in sel.clusters)}.",
               plot_montage, Montage(rows, thumbs.size), width=0.9),
        Table(ctx.key("gallery-clusters-table"), f"Clusters shown in the montage ({ctx.label}).", frame,
              formats={"purity": ".0%"}, max_rows=None),
    ))


def pair_section(ctx: CellContext, sel: GallerySelection, thumbs) -> Section:
    if not sel.pairs:
        return Section("Most confused identity pairs", (P("No pair of identities to show."),))
    by_errors = sel.pair_source.startswith("out-of-fold")
    width = max(len(p.faces_a) for p in sel.pairs)
    rows = tuple(
        MontageRow(f"pair {i}\n" + (f"{p.score:.0f} error{'' if round(p.score) == 1 else 's'}" if by_errors else f"cosine {p.score:.2f}"),
                   (*_padded([_tile(f, thumbs) for f in p.faces_a], width), None, *(_tile(f, thumbs) for f in p.faces_b)))
        for i, p in enumerate(sel.pairs, start=1)
    )
    score = "errors" if by_errors else "centroid cosine"
    frame = pd.DataFrame({
        "row": np.arange(1, len(sel.pairs) + 1),
        "identity A": [p.identity_a for p in sel.pairs],
        "identity B": [p.identity_b for p in sel.pairs],
        score: [p.score for p in sel.pairs],
    })
    return Section("Most confused identity pairs", (
        P(f"Identity pairs ranked by {sel.pair_source}. Each row shows faces of identity A (left) and of identity B "
          "(right); each side shows its faces most similar to the other identity's centroid, the faces that cause the "
          "confusion."),
        Figure(ctx.key("gallery-pairs"),
               f"Most confused identity pairs ({ctx.label}): "
               + "; ".join(f"{i}. {_names((p.identity_a, p.identity_b))}" for i, p in enumerate(sel.pairs, start=1)) + ".",
               plot_montage, Montage(rows, thumbs.size), width=0.95),
        Table(ctx.key("gallery-pairs-table"), f"Identity pairs shown in the montage ({ctx.label}).", frame,
              formats={score: ".0f" if by_errors else ".3f"}, max_rows=None),
    ))


def mislabel_section(ctx: CellContext, sel: GallerySelection, thumbs) -> Section:
    title = "Suspected mislabels"
    if not sel.mislabels:
        why = _notes(sel, "audit") or ("The audit suspects no image of this cell.",)
        return Section(title, (P(*why),))
    width = max(len(m.label_refs) for m in sel.mislabels)
    rows = tuple(
        MontageRow(f"rank {m.rank}\nmargin {m.margin:.2f}",
                   (_tile(m.face, thumbs, emphasis=True), None, *_padded([_tile(f, thumbs) for f in m.label_refs], width),
                    None, *(_tile(f, thumbs) for f in m.nearest_refs)))
        for m in sel.mislabels
    )
    frame = pd.DataFrame({
        "rank": [m.rank for m in sel.mislabels],
        "item": [m.face.item for m in sel.mislabels],
        "label": [m.face.identity for m in sel.mislabels],
        "nearest other identity": [m.nearest for m in sel.mislabels],
        "margin": [m.margin for m in sel.mislabels],
    })
    return Section(title, (
        P(f"The first {len(sel.mislabels)} of the {sel.n_suspected} images the label audit suspects, in the audit's "
          "order (rank as in the Label audit page). Each row shows the suspect (thick black frame, titled in bold with "
          "its label), then the most typical faces of its labelled identity, then those of the identity whose centroid "
          "is nearest to it. A suspect that looks like the right-hand faces is probably mislabelled; one that looks "
          "like neither may be a poor detection or a photograph of several people."),
        Figure(ctx.key("gallery-mislabels"),
               f"Suspected mislabels ({ctx.label}): "
               + "; ".join(f"{m.rank}. labelled {_names((m.face.identity,))}, nearest {_names((m.nearest,))}"
                           for m in sel.mislabels) + ".",
               plot_montage, Montage(rows, thumbs.size), width=0.95),
        Table(ctx.key("gallery-mislabels-table"), f"Suspected mislabels shown in the montage ({ctx.label}).", frame,
              formats={"margin": ".3f"}, max_rows=None),
    ))


def _notes(sel: GallerySelection, word: str) -> tuple[str, ...]:
    return tuple(n for n in sel.notes if word in n)


def page(ctx: CellContext, gallery) -> Page:
    """The gallery page of one cell (``gallery`` is a ``report.study.CellGallery``)."""
    sel, thumbs = gallery.selection, gallery.thumbnails
    intro = [
        Admonition("warning", "Biometric data", spans(BIOMETRIC_WARNING)),
        P(f"Faces of dataset {ctx.cell.dataset} behind the numbers of the {ctx.cell.network} network on subset "
          f"{ctx.cell.subset}. Thumbnails are {thumbs.size}-pixel crops aligned on the ArcFace landmark template, cut at "
          "build time from the original images with the box and landmarks of the detection trace: each is the face "
          "its embedding was computed from. Galleries are drawn for the first analysed subset of each network only."),
    ]
    if thumbs.missing:
        intro.append(Admonition("note", "Faces not available", spans(
            f"{plural(len(thumbs.missing), 'face')} could not be re-read from the images and are drawn as empty tiles: "
            + "; ".join(sorted(set(thumbs.missing.values()))) + ".")))
    sections = (cluster_section(ctx, sel, thumbs), pair_section(ctx, sel, thumbs), mislabel_section(ctx, sel, thumbs))
    return Page(path=(*ctx.path, "galleries"), title="Face galleries", intro=tuple(intro), sections=sections,
                synthetic=ctx.synthetic, nav_titles=ctx.nav_titles)


def overview_section(enabled: bool, pages: list[Page], notes: tuple[str, ...]) -> Section | None:
    """The Overview page's word on galleries: where they are, and why some datasets have none.

    None when galleries are off, so that the default report is unchanged.
    """
    if not enabled:
        return None
    blocks = [P("The config sets ", Code("galleries = true"), ": ",
                Strong(f"{plural(len(pages), 'gallery page')} show{'s' if len(pages) == 1 else ''} face images") if pages else "no page shows face images",
                " (biometric data; see the warning on each gallery page).")]
    if pages:
        blocks.append(Bullets(*(" / ".join(p.path[:-1]) for p in pages)))
    if notes:
        blocks.append(P("Not shown:"))
        blocks.append(Bullets(*notes))
    return Section("Face galleries", tuple(blocks))
