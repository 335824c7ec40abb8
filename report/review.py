"""Review folders: the aligned crop of every face, one sub-folder per discovered cluster (local only).

The hand workflow reviews clusters as folders of faces before naming them. With ``review_dir``
set on an unlabelled dataset, :func:`write_review_folders` (called by :mod:`report.driver`)
writes ``<review_dir>/<dataset>-<network>/cluster-NN/<photo>__face<k>.jpg`` for every face of
the dataset's identity discovery, cut from the original photo with the trace's box and landmarks
(:mod:`analysis.embedding.thumbnails`). Face pixels are biometric data: the folder may not lie
inside ``docs/``, ``site/`` or ``paper/`` unless ``[study] galleries = true``. Files are
rewritten only when their bytes change, and nothing else in the folder is touched.
"""
from __future__ import annotations

from pathlib import Path

from analysis.embedding.images import ImageSkip, decode_file, encode_jpeg
from analysis.embedding.store import atomic_write_bytes
from analysis.embedding.thumbnails import crop_matrix, cut_thumbnail
from analysis.statistics.discovery import face_index_of, photo_of
from analysis.statistics.naming import cluster_label
from report.escape import slugify

CROP_SIZE = 112


def _check_private(review: Path, output_dir: Path, galleries: bool) -> None:
    if galleries:
        return
    for published in ("docs", "site", "paper"):
        inside = (Path(output_dir) / published).resolve()
        if review == inside or inside in review.parents:
            raise ValueError(f"review_dir {str(review)!r} is inside {published}/, which is published; face crops are "
                             "biometric data: choose a folder outside the build outputs (or set [study] galleries = true)")


def write_review_folders(results, discovery_of) -> list[Path]:
    """Write the review crops of every unlabelled dataset with ``review_dir``; the folders written.

    ``discovery_of(dataset)`` gives ``network -> DiscoveryResult`` (see :func:`report.assemble.discovered_clusters`).
    """
    cfg = results.config
    written = []
    for inp in results.inputs:
        review = getattr(inp.spec.options, "review_dir", None)
        if review is None or inp.image_root is None:
            continue
        review = Path(review).resolve()
        _check_private(review, cfg.study.output_dir, cfg.study.galleries)
        for net, found in sorted(discovery_of(inp.spec.name).items()):
            trace = inp.trace[net]
            faces = trace[trace["face_index"] >= 0].set_index(["item", "face_index"])
            folder = review / f"{slugify(inp.spec.name)}-{slugify(net)}"
            by_photo: dict[str, list[tuple[int, int]]] = {}
            for item, cluster in zip(found.items, found.clusters):
                by_photo.setdefault(photo_of(item), []).append((face_index_of(item), int(cluster)))
            for photo, members in sorted(by_photo.items()):
                try:
                    img = decode_file(Path(inp.image_root) / photo, target_side=None)
                except ImageSkip:
                    continue  # unreadable now: the trace and the CSV still list the face
                for k, cluster in members:
                    row = faces.loc[(photo, k)]
                    box = row[["x1", "y1", "x2", "y2"]].to_numpy(dtype=float)
                    lmk = row[[f"{a}{i}" for i in range(5) for a in ("lx", "ly")]].to_numpy(dtype=float).reshape(5, 2)
                    crop = cut_thumbnail(img.bgr, crop_matrix(box * img.scale, lmk * img.scale,
                                                              str(row["landmark_scheme"]), CROP_SIZE), CROP_SIZE)
                    name = photo.rsplit(".", 1)[0].replace("/", "__") + f"__face{k}.jpg"
                    target = folder / cluster_label(cluster) / name
                    data = encode_jpeg(crop)
                    if not target.is_file() or target.read_bytes() != data:
                        atomic_write_bytes(target, data)
            written.append(folder)
    return written
