"""The identity discovery page of a named dataset: how the names of the names file reached this build's faces.

After naming, the cells of an unlabelled dataset are labelled and every labelled analysis runs;
this page takes the place of the discovery page (same path) and says how each face got its
name: the faces the names were given to (recorded in the names lock), the faces that joined a
named cluster through matching, the new clusters still without a name, and every warning of
the matching (:class:`analysis.statistics.name_matching.CarryOver`). Everything on it is
counted by origin, so a rebuild with nothing changed gives the same page.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.statistics.name_matching import BOUND, MATCHED, NEW
from analysis.statistics.naming import NamingRecord, cluster_label
from report.contexts import CellContext
from report.model import Admonition, Bullets, Code, P, Page, Section, Strong, Table, spans

DROPPED = "(dropped)"


def identities_frame(record: NamingRecord) -> pd.DataFrame:
    """One row per identity (and one for the dropped faces): its clusters and faces by origin."""
    c = record.carry
    label_of = dict(record.named)
    label = np.array([label_of.get(int(k), DROPPED) for k in c.cluster], dtype=object)
    rows = []
    for name in sorted(set(label), key=lambda n: (n == DROPPED, str(n))):
        here = label == name
        rows.append({
            "identity": name, "clusters": ", ".join(str(int(k)) for k in np.unique(c.cluster[here])),
            "faces": int(here.sum()), "named": int((here & (c.origin == BOUND)).sum()),
            "joined": int((here & (c.origin == MATCHED)).sum()), "new": int((here & (c.origin == NEW)).sum()),
        })
    return pd.DataFrame(rows, columns=["identity", "clusters", "faces", "named", "joined", "new"])


def matches_frame(record: NamingRecord) -> pd.DataFrame:
    """One row per discovered cluster of this build: its faces by origin and the named cluster most of them are in."""
    return pd.DataFrame([{
        "discovered": m.discovered, "faces": m.faces, "named": m.bound, "joined": m.matched, "new": m.new,
        "cluster (identity)": f"{m.cluster} ({m.identity or DROPPED})", "share": m.share,
    } for m in record.carry.matches], columns=["discovered", "faces", "named", "joined", "new", "cluster (identity)",
                                               "share"])


def unnamed_new_clusters(record: NamingRecord) -> list[tuple[int, int]]:
    """(cluster, faces) of the clusters first seen after naming that the names file does not name yet."""
    c = record.carry
    named = {k for k, name in record.named if name != cluster_label(k)}
    out = []
    for k in np.unique(c.cluster):
        here = c.cluster == k
        if (c.origin[here] == NEW).all() and int(k) not in named:
            out.append((int(k), int(here.sum())))
    return out


def naming_page(ctx: CellContext, record: NamingRecord, params) -> Page:
    """The discovery page of a named (dataset, network): names, matching, warnings (see module docstring)."""
    c = record.carry
    n_identities = len({name for _, name in record.named})
    intro = [
        P("Cell ", Strong(ctx.label), f": the {c.cluster.size:,d} faces of this dataset had no identity labels. They were "
          "clustered with KMeans and named by the names file ", Code(record.source), f": {n_identities} identities, "
          f"{record.n_faces_kept:,d} faces kept, {record.n_faces_dropped:,d} dropped. Every labelled analysis of this "
          f"cell uses those names. This build's clustering: {record.reason}."),
        P(Strong("Names follow faces. "), Code(record.source), " names the clusters of the clustering it was written for; ",
          Code(record.lock), " (written by the build beside it) records the faces each of those clusters held, by the "
          "content hash of the photo and the face's box, so renaming or moving photos changes nothing. Every build "
          "matches its own discovered clusters to them: a recorded face always keeps its name; a new face takes the name "
          "of its discovered cluster only when recorded faces make up at least "
          f"{params.carry_min_anchor:.0%} of that cluster and at least {params.carry_min_share:.0%} of them carry that "
          "name (", Code("[discovery] carry_min_anchor"), ", ", Code("carry_min_share"), "). Otherwise the new faces "
          "form a new cluster without a name, or, when the recorded faces disagree, the build stops with an error "
          "instead of guessing. Faces of photos outside the study get a name only from ", Code("predict"),
          ", whose recogniser calls a face below its threshold ", Code("unknown"), "."),
    ]
    if c.warnings:
        intro.append(Admonition("warning", "Check these clusters", spans(
            " ".join(f"{i + 1}. {w.text}." for i, w in enumerate(c.warnings)))))
    if c.n_missing:
        intro.append(Admonition("note", "Recorded faces not in this build", spans(
            f"{c.n_missing:,d} of the faces the names were given to are not in this build (photos removed, or edited so "
            f"that their content changed). They stay in {record.lock}: put the photos back and they keep their names.")))
    new = unnamed_new_clusters(record)
    sections = [
        Section("Identities", (
            P("Every identity with its clusters (the ids of the names file) and its faces: 'named', the faces the names "
              "were given to; 'joined', faces of later photos that joined a named cluster through matching; 'new', faces "
              "of clusters first seen after naming."),
            Table(ctx.key("naming-identities"), f"Identities of {ctx.label} and where their faces come from.",
                  identities_frame(record), max_rows=None),
        )),
        Section("Discovered clusters of this build", (
            P("This build's KMeans clusters ('discovered'), their faces by origin, and the cluster of the names file most "
              "of their faces belong to; 'share' is the part of the discovered cluster's faces carrying that identity. "
              "A discovered cluster holding two named identities, or a named cluster spread over two discovered "
              "clusters, is a warning at the top of this page"
              + (f" ({len(c.warnings)} in this build)." if c.warnings else " (none in this build).")),
            Table(ctx.key("naming-matches"), f"Discovered clusters of {ctx.label} matched to the named clusters.",
                  matches_frame(record), formats={"share": ".0%"}, max_rows=40),
        )),
    ]
    if new:
        sections.append(Section("New clusters without a name", (
            P("These clusters hold only faces first seen after the names were applied. Look at them (", Code("review_dir"),
              " writes their faces, one folder per cluster), then add a row per cluster to ", Code(record.source),
              " with its id and a name (or ", Code("drop"), ") and rebuild:"),
            Bullets(*((f"cluster {k}: {n} face(s), shown as ", Code(cluster_label(k))) for k, n in new)),
        )))
    return Page((*ctx.path, "discovery"), "Identity discovery", tuple(intro), tuple(sections), synthetic=ctx.synthetic,
                nav_titles=ctx.nav_titles)


def naming_pages(results) -> dict:
    """Cell -> naming page, for the first analysed subset of every named (dataset, network)."""
    pages = {}
    for inp in results.inputs:
        for record in inp.naming:
            if record.carry is None:
                continue
            cell = next((c for c in results.cells if c.dataset == inp.spec.name and c.network == record.network), None)
            if cell is not None:
                pages[cell] = naming_page(results.contexts[cell], record, results.config.discovery)
    return pages
