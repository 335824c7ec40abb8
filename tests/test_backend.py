"""Where analyses run: serial, loky, Dask (report.backend, analysis.blocks) give the same results."""
from __future__ import annotations

import numpy as np
from threadpoolctl import threadpool_limits
import pytest

from analysis.blocks import block_map, in_dask_task
from analysis.statistics.classifiers.knn import QUERY_BLOCK, neighbour_graph
from analysis.statistics.verification.pair_histograms import pair_histograms
from report.backend import run_tasks, worker_count


def _square(v):
    return v * v


def _offset_sum(base, a, b):
    return int(base[a:b].sum())


def test_run_tasks_keeps_input_order_on_every_local_backend():
    args = [(v,) for v in range(7)]
    expected = [v * v for v in range(7)]
    assert run_tasks(_square, args, "serial") == expected
    assert run_tasks(_square, args, "loky", n_jobs=2) == expected


def test_unknown_backend_and_missing_client_are_clear_errors():
    with pytest.raises(ValueError, match="valid: serial, loky, dask"):
        run_tasks(_square, [(1,), (2,)], "spark")
    with pytest.raises(ValueError, match="needs a client"):
        run_tasks(_square, [(1,), (2,)], "dask")


def test_worker_count_zero_means_every_usable_core():
    assert worker_count(3) == 3
    assert worker_count(0) >= 1


def test_block_map_outside_dask_runs_in_order_here():
    assert not in_dask_task()
    base = np.arange(10)
    assert block_map(_offset_sum, (base,), [(0, 5), (5, 10)]) == [10, 35]


def _clustered(n: int, d: int, k: int, seed: int):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d))
    labels = rng.integers(0, k, size=n)
    x = centres[labels] + 0.8 * rng.normal(size=(n, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), labels


@pytest.mark.slow
def test_dask_local_cluster_gives_identical_histograms_and_neighbours():
    """The quadratic passes split into Dask tasks on a 2-worker LocalCluster equal the single-process run."""
    distributed = pytest.importorskip("distributed")
    x, labels = _clustered(QUERY_BLOCK * 2 + 500, 48, 300, seed=3)
    # The workers run BLAS on one thread; OpenBLAS's float32 products can round differently with
    # another thread count (a cosine then falls into the next bin), so the reference does too.
    with threadpool_limits(1):
        local_hist = pair_histograms(x, labels, n_bins=2000, block_rows=1500)
        local_graph = neighbour_graph(x, 12)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            assert client.submit(in_dask_task, pure=False).result()
            hist = client.submit(pair_histograms, x, labels, 2000, 1500, pure=False).result()
            graph = client.submit(neighbour_graph, x, 12, pure=False).result()
            # The blocks really were tasks of the cluster (more than the two outer ones).
            assert len(client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.task_prefixes))) >= 3
    np.testing.assert_array_equal(hist.genuine, local_hist.genuine)
    np.testing.assert_array_equal(hist.impostor, local_hist.impostor)
    assert (hist.n_genuine, hist.n_impostor) == (local_hist.n_genuine, local_hist.n_impostor)
    # Moments are float64 sums through BLAS, whose thread count differs between a worker and
    # this process: equal to the last few bits, not bit for bit.
    for name in ("genuine_mean", "genuine_var", "impostor_mean", "impostor_var"):
        assert getattr(hist, name) == pytest.approx(getattr(local_hist, name), rel=1e-12), name
    np.testing.assert_array_equal(graph.index, local_graph.index)
    # Same neighbours; their float32 distances may differ in the last bits (BLAS threads).
    np.testing.assert_allclose(graph.distance, local_graph.distance, rtol=1e-5)


@pytest.mark.slow
def test_study_on_a_dask_local_cluster_equals_the_serial_study(tmp_path):
    """[study] backend = "dask" (a LocalCluster started for the run) gives the serial run's results."""
    pytest.importorskip("distributed")
    import dataclasses

    from analysis.config import load_config
    from analysis.embedding.store import EmbeddingStore
    from report.study import BuildLog, compute_all, load_inputs
    from tests.conftest import write_small_config

    results = {}
    for backend in ("serial", "dask"):
        folder = tmp_path / backend
        cfg = load_config(write_small_config(folder, n_identities=8, subsets='["all"]'))
        study = dataclasses.replace(cfg.study, backend=backend, n_jobs=2)
        cfg = dataclasses.replace(cfg, study=study, manifold=dataclasses.replace(cfg.manifold, tsne=False, umap=False))
        build = BuildLog()
        inputs = load_inputs(cfg, EmbeddingStore(cfg.study.cache_dir), build, progress=False)
        results[backend] = compute_all(cfg, inputs, build, progress=False)
        assert not [r for r in build.reused if not r.startswith("embeddings")]  # fresh caches: both computed
    serial, dask = results["serial"], results["dask"]
    assert set(serial.cell_results) == set(dask.cell_results) and serial.cells == dask.cells
    for cell in serial.cells:
        hs, hd = serial.cell_results["similarity"][cell].histograms, dask.cell_results["similarity"][cell].histograms
        np.testing.assert_array_equal(hs.genuine, hd.genuine)
        np.testing.assert_array_equal(hs.impostor, hd.impostor)
        cs, cd = serial.cell_results["classifiers"][cell], dask.cell_results["classifiers"][cell]
        assert [s.accuracy_mean for s in cs.scores] == [s.accuracy_mean for s in cd.scores]
        gs, gd = serial.cell_results["geometry"][cell], dask.cell_results["geometry"][cell]
        np.testing.assert_allclose(gs.norms, gd.norms, rtol=1e-12)


def test_backend_setting_is_validated(tmp_path):
    from analysis.config import ConfigError, StudySettings, build_dataclass

    with pytest.raises(ConfigError, match="backend must be one of loky, serial, dask"):
        build_dataclass(StudySettings, {"backend": "spark"}, where="[study]", base=tmp_path)
    with pytest.raises(ConfigError, match="scheduler is only used with backend"):
        build_dataclass(StudySettings, {"scheduler": "tcp://h:8786"}, where="[study]", base=tmp_path)
    ok = build_dataclass(StudySettings, {"backend": "dask", "n_jobs": 2}, where="[study]", base=tmp_path)
    assert (ok.backend, ok.n_jobs, ok.scheduler) == ("dask", 2, "")
