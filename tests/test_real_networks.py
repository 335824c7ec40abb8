"""Two real networks on real photos: dlib's ResNet and mobileface (the ArcFace path), checked against numpy.

Embeddings of the first 20 photos of each of the 12 celebrity identities with about 100 photos
(240 photos) are extracted once per session and kept in a content-addressed cache outside the
repository (``$TMPDIR/face-atlas-test-cache``): dlib's HOG detector and ResNet, and SCRFD 2.5g with
mobileface-raw.onnx (256-D, RGB, raw 0..255 pixels, ``norm_crop`` at 112, the README of
``../shared/models/mobileface``). For each network the EER of the similarity analysis and the
rank-1 rate of the identification analysis must agree with an independent numpy computation on
the same embeddings: EER within 0.2 percentage points (the histograms' thresholds are bin edges of
5e-4 cosine), rank-1 within one search (float32 against float64 scores may flip an exact tie).
mobileface's EER must also be in the range its README measured for a correctly fed network
(10.2% on the first 20 photos per identity; BGR input gave 15.5%, pixels scaled twice 37.8%).
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

from analysis.statistics.identification.identification import analyze_identification
from analysis.statistics.identification.params import IdentificationParams
from analysis.statistics.verification.similarity import SimilarityParams, analyze_similarity
from tests.face_fixtures import (SCRFD_2_5G, large_identities_manifest, need_dlib, need_mobileface, need_scrfd)

PER_IDENTITY = 20
CACHE = Path(tempfile.gettempdir()) / "face-atlas-test-cache"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real_embeddings():
    """{network: EmbeddingSet} of the same 240 photos under dlib (HOG) and mobileface (SCRFD 2.5g)."""
    from analysis.embedding.extract import ExtractionParams, extract_embeddings
    from analysis.embedding.networks import ArcFaceOptions, DlibOptions

    need_dlib()
    model = need_mobileface()
    detector = need_scrfd(SCRFD_2_5G)
    manifest = large_identities_manifest(PER_IDENTITY, "real-networks")
    dlib = extract_embeddings(manifest, "celebrity", "dlib", DlibOptions(),
                              ExtractionParams(detector="dlib-hog", dlib_max_side=400, chunk_size=60), CACHE,
                              progress=False)
    mobile = extract_embeddings(manifest, "celebrity", "mobileface", ArcFaceOptions(model_path=model),
                                ExtractionParams(detector_path=detector, chunk_size=60), CACHE, progress=False)
    return {"dlib": dlib.embeddings, "mobileface": mobile.embeddings}


def numpy_eer(emb) -> float:
    """EER from every pair's float64 cosine: at the score where FNMR - FMR changes sign, the mean of the two."""
    x = emb.vectors.astype(np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    s = x @ x.T
    iu = np.triu_indices(len(x), 1)
    same = (emb.labels[:, None] == emb.labels[None, :])[iu]
    g, i = np.sort(s[iu][same]), np.sort(s[iu][~same])
    t = np.unique(np.concatenate([g, i]))
    fnmr = np.searchsorted(g, t, side="left") / len(g)  # mated pairs below t
    fmr = 1 - np.searchsorted(i, t, side="left") / len(i)  # non-mated pairs at or above t
    k = int(np.argmax(fnmr >= fmr))
    return float((fnmr[k] + fmr[k]) / 2)


def numpy_rank1(emb) -> tuple[int, int]:
    """(rank-1 hits, searches): first photo in sorted file order enrolled, every other one searched."""
    x = emb.vectors.astype(np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ids, items = emb.identities.astype(str), emb.items.astype(str)
    names = sorted(set(ids))
    first = {n: min((it, r) for r, (i_, it) in enumerate(zip(ids, items)) if i_ == n)[1] for n in names}
    t = x[[first[n] for n in names]]
    probes = [r for r in range(len(x)) if r != first[ids[r]]]
    mate = np.array([names.index(ids[r]) for r in probes])
    s = x[probes] @ t.T
    mate_s = s[np.arange(len(probes)), mate]
    s[np.arange(len(probes)), mate] = -np.inf
    return int(np.sum(s.max(axis=1) < mate_s)), len(probes)


@pytest.mark.parametrize("network", ["dlib", "mobileface"])
def test_eer_and_rank1_match_numpy(real_embeddings, network):
    emb = real_embeddings[network]
    assert emb.n_samples >= 220 and len(set(emb.identities)) == 12  # few photos without a face
    sim = analyze_similarity(emb, SimilarityParams(bootstrap_reps=0), 0)
    assert abs(sim.verification.eer - numpy_eer(emb)) <= 0.002
    ident = analyze_identification(emb, IdentificationParams(), 0)
    hits, searches = numpy_rank1(emb)
    assert ident.n_probes == searches
    assert abs(ident.rank1.estimate * searches - hits) <= 1
    assert np.all(np.diff(ident.cmc) >= 0)


def test_networks_read_as_expected(real_embeddings):
    dlib, mobile = real_embeddings["dlib"], real_embeddings["mobileface"]
    assert dlib.n_dims == 128 and mobile.n_dims == 256
    assert mobile.meta.get("preprocessing") == "rgb,(x-0)/1,nchw-float32"  # raw pixels: the graph scales them
    eer = {n: analyze_similarity(e, SimilarityParams(bootstrap_reps=0), 0).verification.eer
           for n, e in real_embeddings.items()}
    # mobileface's README: 10.2% EER on the first 20 photos per identity, 15.5% when fed BGR.
    assert 0.06 <= eer["mobileface"] <= 0.14, eer
    assert eer["dlib"] < 0.05 and eer["dlib"] < eer["mobileface"], eer
    rank1 = {n: analyze_identification(e, IdentificationParams(), 0).rank1.estimate for n, e in real_embeddings.items()}
    assert rank1["dlib"] > rank1["mobileface"] > 0.3, rank1
