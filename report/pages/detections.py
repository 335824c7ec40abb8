"""Detection-overlay pages: what the face detector saw on a sample of each image dataset's photos.

Built only with ``[study] galleries = true`` and only for datasets of photos (see
``report.detections_stage``); with the default ``false`` no page of this module exists and no
face pixel is written anywhere. Like the galleries, the figures are site-only
(``in_paper=False``): the paper never shows faces.

One page per image dataset. The photos are a seeded sample stratified by what happened on them
(:mod:`analysis.statistics.detection_sample`: several faces first, then rejected candidates,
then photos without a kept face, then ordinary ones). For every network, one figure draws on
each photo every candidate face of the detection trace: its box in the colour of its fate
(kept, a valid face that was not the chosen one, score below the threshold, face too small),
its index and score, and its five landmarks; a table gives the same rows as numbers.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.statistics.detection_sample import STRATA
from report import plotting
from report.escape import slugify, truncate
from report.format import plural
from report.model import Admonition, Code, Figure, P, Page, Section, Table, spans
from report.pages.galleries import BIOMETRIC_WARNING

#: Trace status -> (words on the page, box colour). Colours are not the identity palette's.
STATUS = {
    "kept": ("kept", "#1a9850"),
    "extra face (kept)": ("kept (every face)", "#1a9850"),
    "other face (not kept)": ("valid, not the chosen face", "#fdae61"),
    "low score": ("rejected: score below the threshold", "#d73027"),
    "face too small": ("rejected: face too small", "#7b3294"),
}
OTHER_STATUS = ("other", "#666666")
LEGEND = (("kept", STATUS["kept"][1]), ("valid, not the chosen face", STATUS["other face (not kept)"][1]),
          ("rejected: score below the threshold", STATUS["low score"][1]),
          ("rejected: face too small", STATUS["face too small"][1]))
LANDMARK_COLOUR = "#00e5ff"
PANEL_IN = 2.6  # inches per photo panel
COLUMNS = 4
TITLE_LEN = 30


@dataclass(frozen=True, eq=False)
class OverlayPanel:
    """One photo with its candidate faces in photo pixels."""

    image: np.ndarray | None  # (h, w, 3) uint8, None when the photo could not be re-read
    title: str
    boxes: np.ndarray  # (k, 4) x1, y1, x2, y2
    scores: np.ndarray  # (k,)
    statuses: tuple[str, ...]
    landmarks: np.ndarray  # (k, 5, 2), NaN when the detector gave none
    faces: tuple[int, ...]  # face index of each candidate


@dataclass(frozen=True, eq=False)
class OverlayGrid:
    panels: tuple[OverlayPanel, ...]
    columns: int


def plot_overlays(d: OverlayGrid):
    """Photos in a grid, every detected box drawn in the colour of its status, with score and landmarks."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    ncols = min(d.columns, max(1, len(d.panels)))
    nrows = max(1, -(-len(d.panels) // ncols))
    fig, axes = plotting.figure(PANEL_IN * ncols, PANEL_IN * 0.86 * nrows + 0.5, ncols=ncols, nrows=nrows, squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.grid(False)
        ax.set_xticks([])
        ax.set_yticks([])
        if k >= len(d.panels):
            ax.axis("off")
            continue
        p = d.panels[k]
        ax.set_title(p.title, fontsize=6, pad=2, parse_math=False)
        if p.image is None:
            ax.imshow(np.full((3, 4, 3), 235, np.uint8))
            ax.text(0.5, 0.5, "photo not available", transform=ax.transAxes, ha="center", va="center", fontsize=6,
                    color="#666666", parse_math=False)
            continue
        ax.imshow(p.image, interpolation="antialiased")
        h, w = p.image.shape[:2]
        for (x1, y1, x2, y2), score, status, lmk, face in zip(p.boxes, p.scores, p.statuses, p.landmarks, p.faces):
            colour = STATUS.get(status, OTHER_STATUS)[1]
            ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, edgecolor=colour, linewidth=1.6))
            inside = y1 < 0.08 * h  # no room above the box (a face cut by the top edge): label inside it
            ax.text(max(0.0, x1), max(0.0, y1) + 2 if inside else y1 - 2, f"{face}: {score:.2f}", color="white",
                    fontsize=5.5, va="top" if inside else "bottom", ha="left", parse_math=False, clip_on=True,
                    bbox={"facecolor": colour, "edgecolor": "none", "pad": 0.8, "alpha": 0.9})
            ok = np.isfinite(lmk).all(axis=1)
            if ok.any():
                ax.scatter(lmk[ok, 0], lmk[ok, 1], s=7, c=LANDMARK_COLOUR, edgecolors="black", linewidths=0.4, zorder=3)
        ax.set_xlim(0, w)
        ax.set_ylim(h, 0)
        for spine in ax.spines.values():
            spine.set_visible(False)
    handles = [Line2D([], [], color=c, lw=2.5, label=label) for label, c in LEGEND]
    handles.append(Line2D([], [], ls="", marker="o", ms=4, mfc=LANDMARK_COLOUR, mec="black", label="landmarks"))
    fig.legend(handles=handles, loc="outside lower center", ncol=5, fontsize=7, frameon=False)
    return fig


def _panels(data, net) -> tuple[OverlayPanel, ...]:
    photos, rows = data.photos, net.rows
    panels = []
    for item, stratum in zip(data.choice.items, data.choice.strata):
        r = rows[rows["item"] == item]
        s = photos.scale.get(item, 1.0)
        boxes = r[["x1", "y1", "x2", "y2"]].to_numpy(np.float64) * s
        lmk = np.stack([r[[f"lx{i}", f"ly{i}"]].to_numpy(np.float64) for i in range(5)], axis=1) * s if len(r) else \
            np.zeros((0, 5, 2))
        panels.append(OverlayPanel(photos.images.get(item), f"{truncate(item, TITLE_LEN)}\n{stratum}", boxes, r["score"].to_numpy(np.float64),
                                   tuple(r["status"].astype(str)), lmk, tuple(int(f) for f in r["face_index"])))
    return tuple(panels)


def _table(net) -> pd.DataFrame:
    r = net.rows
    side = np.minimum(r["x2"] - r["x1"], r["y2"] - r["y1"]).to_numpy(np.float64)
    return pd.DataFrame({
        "photo": r["item"].astype(str),
        "face": r["face_index"].astype(np.int64),
        "outcome": [STATUS.get(s, (s, ""))[0] for s in r["status"].astype(str)],
        "score": r["score"].to_numpy(np.float64),
        "box side (px)": side,
        "x1": r["x1"].to_numpy(np.float64), "y1": r["y1"].to_numpy(np.float64),
    })


def page(data) -> Page:
    """The detection-overlay page of one image dataset (``data``: ``report.detections_stage.DatasetDetections``)."""
    name, choice = data.dataset, data.choice
    counts = dict(choice.counts)
    intro = [
        Admonition("warning", "Biometric data", spans(BIOMETRIC_WARNING)),
        P(f"What the face detector reported on {plural(len(choice.items), 'photo')} of dataset {name} (a seeded sample of "
          f"its {choice.n_photos:,d} photos): every candidate face with its box, index and score, and its five landmarks. "
          "Boxes are coloured by what the extraction did with the face: kept (its embedding is in the study), valid but "
          "not the chosen face (an identity dataset keeps one face per photo: the most confident, then the largest and "
          "most central), or rejected for its score or its size."),
        P("The sample takes photos with several valid faces first (group photos), then photos with a rejected candidate, "
          "then photos without any kept face, then ordinary ones. In the whole dataset: ",
          "; ".join(f"{counts.get(s, 0):,d} {s}" for s in STRATA), "."),
    ]
    if data.photos.missing:
        intro.append(Admonition("note", "Photos not available", spans(
            f"{plural(len(data.photos.missing), 'photo')} could not be re-read: "
            + "; ".join(sorted(set(data.photos.missing.values()))) + ".")))
    sections = []
    for net in data.networks:
        key = "-".join(slugify(x) for x in (name, "detections", net.network))
        frame = _table(net)
        by_status = net.rows["status"].astype(str).value_counts().sort_index()
        sections.append(Section(f"Network {net.network}", (
            P("Detector ", Code(net.detector or "unknown"), f": candidates scoring below {net.min_score:g} are rejected "
              f"(low score), boxes shorter than {net.min_face_px:g} px too (face too small). On these photos: ",
              "; ".join(f"{n} {STATUS.get(s, (s,))[0]}" for s, n in by_status.items()) or "no candidate face", "."),
            Figure(f"{key}-overlays",
                   f"Detections of network {net.network} on {plural(len(choice.items), 'sampled photo')} of {name}: boxes by "
                   "outcome (green kept, orange valid but not chosen, red low score, purple too small), face index and "
                   "score above each box, landmarks in cyan.",
                   plot_overlays, OverlayGrid(_panels(data, net), COLUMNS), width=1.0),
            Table(f"{key}-faces", f"Every candidate face on the sampled photos of {name}, network {net.network}.", frame,
                  formats={"score": ".3f", "box side (px)": ".0f", "x1": ".0f", "y1": ".0f"}, max_rows=40),
        )))
    return Page(path=("data", f"{name}-detections"), title=f"{name}: face detections", intro=tuple(intro),
                sections=tuple(sections), nav_titles=("Data",))

