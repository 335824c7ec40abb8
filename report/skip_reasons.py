"""Why the study stage skipped a cell or stopped on a dataset: one message with the counts and the fix."""
from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.types import EmbeddingSet
from report.format import plural


def subset_too_small(subset: str, part: EmbeddingSet, emb: EmbeddingSet) -> str:
    """Why a subset's cell is not analysed (fewer than 2 identities left), with the counts and the fix."""
    kept = len(np.unique(part.identities))
    _, counts = np.unique(emb.identities, return_counts=True)
    return (f"subset {subset!r} leaves {plural(kept, 'identity', 'identities')} of {len(counts)} (the largest has "
            f"{plural(int(counts.max()), 'image')}); at least 2 are needed: lower its threshold or remove it from "
            f"subsets")


def no_face_message(dataset: str, network, manifest, skipped: pd.DataFrame, params) -> str:
    """The error of an image dataset in which a network kept no face: where, how many, why, what to change."""
    from analysis.embedding.extraction_params import resolve_detector

    reasons = skipped["reason"].value_counts() if len(skipped) else pd.Series(dtype=int)
    why = ", ".join(f"{n} {reason}" for reason, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))
    if resolve_detector(params, network.options).kind == "insightface":
        knobs = f"min_score = {params.min_score:g}, det_sizes = {list(params.det_sizes)}"
    else:
        knobs = (f"dlib_min_score = {params.dlib_min_score:g}, dlib_upsample = {params.dlib_upsample}, "
                 f"detector_speed = {params.detector_speed!r}")
    return (f"dataset {dataset!r}: network {network.name!r} kept no face in any of the "
            f"{plural(manifest.n_images, 'image')} under {str(manifest.root)!r} ({why or 'nothing recorded'}); check "
            f"that root holds photos of faces, or relax the detection in [extraction] ({knobs}, "
            f"min_face_px = {params.min_face_px})")
