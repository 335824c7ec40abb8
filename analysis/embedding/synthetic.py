"""Synthetic demo embeddings: face-like geometry without any face.

The offline default study needs data that nobody has to download and that behaves like real
face-recognition embeddings, so that every analysis has something meaningful to show. The
generator reproduces the properties that matter for the analyses:

* heavy-tailed images-per-identity counts (FRGC-like: many identities with a handful of images,
  a few with hundreds), drawn from a Pareto law and clipped to ``[min_images, max_images]``;
* identity centres that are nearly orthogonal but share a common direction, as trained
  networks' embeddings do (inter-class cosine about 0.08 +- 0.05);
* per-identity variation confined to a low-dimensional subspace (intrinsic dimension 5-25)
  with a decaying spectrum, so intra-class cosine falls between about 0.4 and 0.8;
* raw (un-normalised) vectors whose norms vary per identity around 15-30, as ArcFace norms do
  with image quality;
* a few percent of mislabelled samples and a junk ``unknown`` group of structureless vectors;
* optionally (``planted_groups``) two group columns for the demographic differentials: ``cohort``
  per identity with a planted differential (cohort ``B``: the identities with the largest
  within-identity spread, so a higher FNMR; cohort ``C``: identities whose centres are pulled
  towards one shared direction, so that they lie closer together and match each other more often)
  and ``session`` per image with no effect, both drawn from their own seeded generator;
* several "network" views of the same latent identities (512-D and 128-D by default), each with
  its own rotation or projection, noise and per-identity difficulty.

Every page that shows these data says "synthetic demo, not faces". The true identity of every
row is kept in its item name (``<true identity>/<true identity>_0001.synthetic``) so that the
audit can be scored against the planted mislabels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.types import EmbeddingSet, l2_normalize

JUNK_IDENTITY = "unknown"
GENERATOR_VERSION = "1"


@dataclass(frozen=True)
class SyntheticDatasetOptions:
    """Options of a ``kind = "synthetic"`` dataset.

    Parameters
    ----------
    n_identities : int, default=80
    min_images, max_images : int, default=6, 220
        Bounds of the images-per-identity counts.
    tail : float, default=1.1
        Pareto shape of the counts; smaller means a heavier tail.
    latent_dim : int, default=512
        Dimension of the latent identity space that every network view is derived from.
    mislabel_fraction : float, default=0.02
        Fraction of samples given the label of another identity.
    junk_fraction : float, default=0.03
        Fraction of extra structureless samples labelled ``unknown``.
    planted_groups : bool, default=False
        Add the ``cohort`` and ``session`` group columns with a planted differential (see the module
        docstring). Off, the vectors are those of earlier versions bit for bit; on, only the rows of
        cohort ``C`` move.
    seed : int, default=0
        Added to the study seed.
    """

    FAMILY = "synthetic"  # class attribute, not a field (no annotation): see analysis.embedding.datasets
    n_identities: int = 80
    min_images: int = 6
    max_images: int = 220
    tail: float = 1.1
    latent_dim: int = 512
    mislabel_fraction: float = 0.02
    junk_fraction: float = 0.03
    planted_groups: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_identities < 2:
            raise ValueError("n_identities must be at least 2")
        if not 2 <= self.min_images <= self.max_images:
            raise ValueError("need 2 <= min_images <= max_images")
        if not (0 <= self.mislabel_fraction < 0.5 and 0 <= self.junk_fraction < 0.5):
            raise ValueError("mislabel_fraction and junk_fraction must be in [0, 0.5)")
        if self.planted_groups and self.n_identities < 8:
            raise ValueError("planted_groups needs n_identities >= 8 (four cohorts' worth of identities)")


@dataclass(frozen=True)
class SyntheticNetworkOptions:
    """Options of a ``kind = "synthetic"`` network (a view of the synthetic latent space).

    Parameters
    ----------
    dim : int, default=512
        Output dimension; below ``latent_dim`` the view is a random projection.
    norm_mean, norm_std : float, default=22, 3
        Raw vector norms: per-identity mean drawn from N(norm_mean, norm_std), per-sample
        spread norm_std / 2.
    noise : float, default=0.1
        Extra isotropic noise of this network (relative to the unit identity centre).
    difficulty_spread : float, default=0.25
        Per-identity multiplicative change of dispersion for this network, so that some
        identities are harder for one network than for another.
    seed : int, default=0
    """

    FAMILY = "synthetic"  # class attribute, not a field (no annotation): see analysis.embedding.networks
    dim: int = 512
    norm_mean: float = 22.0
    norm_std: float = 3.0
    noise: float = 0.1
    difficulty_spread: float = 0.25
    seed: int = 0

    def __post_init__(self) -> None:
        if self.dim < 2:
            raise ValueError("dim must be at least 2")
        if self.norm_mean <= 0 or self.norm_std < 0:
            raise ValueError("norm_mean must be positive and norm_std non-negative")


@dataclass(frozen=True)
class _Latent:
    vectors: np.ndarray  # (n, latent_dim) identity centre + within-identity variation
    true_codes: np.ndarray  # (n,) true identity index, -1 for junk
    labels: np.ndarray  # (n,) identity name as labelled (mislabels included)
    items: np.ndarray
    centres: np.ndarray
    spreads: np.ndarray  # (n_identities,) within-identity spread


def identity_name(i: int) -> str:
    """Name of synthetic identity ``i``; underscores on purpose, like LFW names."""
    return f"Synthetic_Person_{i:03d}"


def image_counts(opts: SyntheticDatasetOptions, rng: np.random.Generator) -> np.ndarray:
    """Heavy-tailed images-per-identity counts in ``[min_images, max_images]``."""
    raw = opts.min_images * (1.0 + rng.pareto(opts.tail, size=opts.n_identities))
    return np.clip(np.round(raw), opts.min_images, opts.max_images).astype(np.int64)


def _latent(opts: SyntheticDatasetOptions, seed: int) -> _Latent:
    rng = np.random.default_rng([seed, opts.seed, 0x5EED])
    d = opts.latent_dim
    counts = image_counts(opts, rng)
    shared = l2_normalize(rng.standard_normal((1, d)))[0]
    centres = l2_normalize(0.3 * shared + l2_normalize(rng.standard_normal((opts.n_identities, d))))
    spreads = rng.uniform(0.55, 1.1, size=opts.n_identities)
    blocks, codes, items = [], [], []
    for i, n_i in enumerate(counts):
        k = int(rng.integers(5, 26))
        basis, _ = np.linalg.qr(rng.standard_normal((d, k)))
        spectrum = np.arange(1, k + 1, dtype=np.float64) ** -0.6
        spectrum *= spreads[i] / np.sqrt(np.sum(spectrum**2))
        z = rng.standard_normal((n_i, k)) * spectrum
        iso = rng.standard_normal((n_i, d)) * (0.12 / np.sqrt(d))
        blocks.append(centres[i] + z @ basis.T + iso)
        codes.append(np.full(n_i, i))
        name = identity_name(i)
        items.extend(f"{name}/{name}_{j + 1:04d}.synthetic" for j in range(n_i))
    vectors = np.concatenate(blocks)
    true_codes = np.concatenate(codes)
    n_junk = int(round(opts.junk_fraction * len(vectors)))
    if n_junk:
        junk = l2_normalize(0.3 * shared + l2_normalize(rng.standard_normal((n_junk, d)))) * 1.2
        vectors = np.concatenate([vectors, junk])
        true_codes = np.concatenate([true_codes, np.full(n_junk, -1)])
        items.extend(f"{JUNK_IDENTITY}/{JUNK_IDENTITY}_{j + 1:04d}.synthetic" for j in range(n_junk))
    labels = np.array([identity_name(c) if c >= 0 else JUNK_IDENTITY for c in true_codes], dtype=object)
    n_bad = int(round(opts.mislabel_fraction * int((true_codes >= 0).sum())))
    if n_bad:
        victims = rng.choice(np.flatnonzero(true_codes >= 0), size=n_bad, replace=False)
        for v in np.sort(victims):
            other = (true_codes[v] + rng.integers(1, opts.n_identities)) % opts.n_identities
            labels[v] = identity_name(int(other))
    return _Latent(vectors, true_codes, labels.astype(str), np.array(items, dtype=str), centres, spreads)


def generate(
    opts: SyntheticDatasetOptions,
    networks: dict[str, SyntheticNetworkOptions],
    dataset: str,
    seed: int = 0,
) -> dict[str, EmbeddingSet]:
    """Generate one embedding set per synthetic network view.

    Parameters
    ----------
    opts : SyntheticDatasetOptions
    networks : dict of str to SyntheticNetworkOptions
        Network name -> view options.
    dataset : str
        Dataset name recorded in the sets.
    seed : int, default=0
        Study seed; the output is a pure function of ``(opts, networks, seed)``.

    Returns
    -------
    dict of str to EmbeddingSet
        Raw float32 vectors, rows ordered by true identity then image, junk last.
    """
    latent = _latent(opts, seed)
    groups: tuple = ()
    planted = ""
    if opts.planted_groups:
        latent, groups, planted = _plant_groups(latent, opts, seed)
    out = {}
    for name in sorted(networks):
        view = networks[name]
        rng = np.random.default_rng([seed, opts.seed, view.seed, view.dim, 0xF00D])
        d_lat = opts.latent_dim
        # A random rotation (dim >= latent) or orthonormal projection (dim < latent): each
        # network sees the same identities in its own coordinates.
        tall = max(view.dim, d_lat)
        basis, _ = np.linalg.qr(rng.standard_normal((tall, min(view.dim, d_lat))))
        proj = basis.T if view.dim >= d_lat else basis  # (d_lat, dim)
        # Per-identity difficulty for this network: scale the within-identity variation.
        difficulty = np.exp(rng.uniform(-view.difficulty_spread, view.difficulty_spread, size=opts.n_identities))
        codes = latent.true_codes
        centre_rows = np.where(codes[:, None] >= 0, latent.centres[np.maximum(codes, 0)], 0.0)
        scale = np.where(codes >= 0, difficulty[np.maximum(codes, 0)], 1.0)[:, None]
        x = centre_rows + (latent.vectors - centre_rows) * scale
        x = x @ proj
        x = l2_normalize(x + rng.standard_normal(x.shape) * (view.noise / np.sqrt(view.dim)))
        id_norm = rng.normal(view.norm_mean, view.norm_std, size=opts.n_identities + 1)
        sample_norm = rng.normal(id_norm[np.where(codes >= 0, codes, opts.n_identities)], view.norm_std / 2)
        sample_norm = np.clip(sample_norm, 0.2 * view.norm_mean, None)
        vectors = (x * sample_norm[:, None]).astype(np.float32)
        out[name] = EmbeddingSet(
            dataset=dataset,
            network=name,
            vectors=vectors,
            identities=latent.labels.copy(),
            items=latent.items.copy(),
            synthetic=True,
            meta={
                "generator": f"analysis.embedding.synthetic v{GENERATOR_VERSION}",
                "seed": str(seed),
                "dataset_options": repr(opts),
                "network_options": repr(view),
                **({"planted_differential": planted} if planted else {}),
            },
            groups=groups,
        )
    return out


#: Share of the identities in cohorts B (largest spread) and C (centres pulled together); the rest is A.
COHORT_SHARE = 0.25
#: How far cohort C's centres are pulled towards their shared direction (before re-normalising).
COHORT_PULL = 0.4


def _plant_groups(latent: _Latent, opts: SyntheticDatasetOptions, seed: int) -> tuple[_Latent, tuple, str]:
    """The planted cohorts and sessions (see the module docstring), from a generator of their own.

    Cohort B is a selection (the identities with the largest within-identity spread), so it moves no
    vector; cohort C's rows are shifted with their centre towards one shared direction, so only they move.
    """
    rng = np.random.default_rng([seed, opts.seed, 0xC0407])
    k = opts.n_identities
    size = max(2, int(round(COHORT_SHARE * k)))
    widest = np.argsort(-latent.spreads, kind="stable")[:size]
    rest = np.setdiff1d(np.arange(k), widest)
    close = np.sort(rng.choice(rest, size=size, replace=False))
    cohort = np.full(k, "A", dtype=object)
    cohort[widest], cohort[close] = "B", "C"
    direction = l2_normalize(rng.standard_normal((1, latent.centres.shape[1])))[0]
    centres = latent.centres.copy()
    centres[close] = l2_normalize(centres[close] + COHORT_PULL * direction)
    codes = latent.true_codes
    moved = np.isin(codes, close)
    vectors = latent.vectors.copy()
    vectors[moved] += (centres - latent.centres)[codes[moved]]
    # Identity-level: a mislabelled row keeps its label's cohort (the label is what a metadata file would key on).
    label_code = {identity_name(i): i for i in range(k)}
    row_cohort = np.array([cohort[label_code[lab]] if lab in label_code else "" for lab in latent.labels], dtype=str)
    session = np.where(rng.random(len(codes)) < 0.5, "S1", "S2").astype(str)
    note = (f"cohort B holds the {size} identities with the largest within-identity spread (a higher FNMR is "
            f"expected); cohort C holds {size} identities whose centres were pulled towards one shared direction "
            f"(the direction added with weight {COHORT_PULL:g}, then re-normalised), so they lie closer together (a higher FMR is expected); "
            "cohort A is the rest and the junk rows have no cohort; session (S1, S2) was drawn at random per image, "
            "with no effect planted")
    planted = _Latent(vectors, latent.true_codes, latent.labels, latent.items, centres, latent.spreads)
    return planted, (("cohort", row_cohort), ("session", session)), note


def planted_mislabels(emb: EmbeddingSet) -> np.ndarray:
    """Boolean mask of rows whose label differs from the true identity kept in the item name."""
    truth = np.array([item.split("/", 1)[0] for item in emb.items.astype(str)])
    return truth != emb.identities.astype(str)
