"""Issue 12: nothing lost, nothing overwritten, nothing injected.

Output ownership (manifest, refusals, staged swaps), the paper's inputs hash, build locks and a
killed lock holder, bad embedding files, config gaps and the CLI's one-line errors. Hostile names
at every sink are in ``tests/test_hostile_names.py``.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import ROOT

PY = sys.executable


# --------------------------------------------------------------------------- ownership
@pytest.fixture
def claim():
    from report.ownership import claim_output_dir

    return claim_output_dir


@pytest.mark.parametrize("where", ["/", "home", "config"])
def test_dangerous_roots_are_refused(tmp_path, claim, where):
    from report.ownership import OutputFolderError

    target = {"/": Path("/"), "home": Path.home(), "config": tmp_path}[where]
    with pytest.raises(OutputFolderError, match="refusing"):
        claim(target, config_dir=tmp_path, project_root=ROOT)


def test_project_root_is_claimed_only_while_its_generated_names_are_free(tmp_path, claim):
    """The requested top level has docs/ and site/; a user's file there is refused, never deleted."""
    from report.ownership import MANIFEST, OutputFolderError

    project = tmp_path / "project"
    (project / "analysis").mkdir(parents=True)
    (project / "build_report.py").write_text("code")
    (project / "docs").mkdir()
    (project / "docs" / "guide.md").write_text("mine")
    with pytest.raises(OutputFolderError, match="guide.md"):
        claim(project, config_dir=project / "configs", project_root=project)
    assert (project / "docs" / "guide.md").read_text() == "mine" and not (project / MANIFEST).exists()
    (project / "docs" / "guide.md").unlink()
    assert claim(project, config_dir=project / "configs", project_root=project) == project.resolve()
    assert (project / MANIFEST).is_file() and (project / "build_report.py").read_text() == "code"


def test_output_dir_that_is_a_file_is_refused(tmp_path, claim):
    from report.ownership import OutputFolderError

    f = tmp_path / "out"
    f.write_text("x")
    with pytest.raises(OutputFolderError, match="is a file"):
        claim(f)


def test_foreign_non_empty_folder_is_refused_and_untouched(tmp_path, claim):
    from report.ownership import OutputFolderError

    out = tmp_path / "blog"
    user_files = {"docs/notes/thesis.md": "mine", "site/post.html": "<p>post</p>", "paper/figures/myfig.pdf": "%PDF",
                  "mkdocs.yml": "site_name: blog"}
    for rel, text in user_files.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text)
    with pytest.raises(OutputFolderError, match="not created by this build") as err:
        claim(out)
    assert str(out) in str(err.value) and "output_dir" in str(err.value)  # names the folder and the fix
    for rel, text in user_files.items():
        assert (out / rel).read_text() == text
    assert not (out / ".atlas-manifest.json").exists()


def test_new_and_empty_folders_are_claimed(tmp_path, claim):
    from report.ownership import read_manifest

    for out in (tmp_path / "new" / "deep", tmp_path / "empty"):
        if out.name == "empty":
            out.mkdir()
        assert claim(out) == out.resolve()
        assert read_manifest(out) == []


def test_cache_inside_the_output_folder_does_not_make_it_foreign(tmp_path, claim):
    out = tmp_path / "atlas-demo"
    (out / ".cache").mkdir(parents=True)
    (out / ".cache" / "blob").write_text("x")
    claim(out, cache_dir=out / ".cache")


def test_owned_folder_with_a_stray_file_is_refused(tmp_path, claim):
    from report.ownership import OutputFolderError, write_manifest

    out = claim(tmp_path / "out")
    (out / "docs").mkdir()
    (out / "docs" / "index.md").write_text("generated")
    write_manifest(out)
    claim(out)  # only its own files: fine
    (out / "docs" / "notes").mkdir()
    (out / "docs" / "notes" / "thesis.md").write_text("mine")
    (out / "README.txt").write_text("not under a generated name: left alone")
    with pytest.raises(OutputFolderError, match="docs/notes/thesis.md"):
        claim(out)
    assert (out / "docs" / "notes" / "thesis.md").read_text() == "mine"


def test_swap_in_replaces_and_staging_leftovers_are_removed(tmp_path, claim):
    from report.ownership import STAGING_PREFIX, staging_dir, swap_in

    out = claim(tmp_path / "out")
    (out / "site").mkdir()
    (out / "site" / "old.html").write_text("old")
    staged = staging_dir(out, "site")
    mask = os.umask(0o022)
    os.umask(mask)
    assert staged.stat().st_mode & 0o777 == 0o777 & ~mask  # not mkdtemp's private 0700
    (staged / "index.html").write_text("new")
    swap_in(staged, out / "site")
    assert sorted(p.name for p in (out / "site").iterdir()) == ["index.html"]
    leftover = staging_dir(out, "paper")  # as if a build was killed here
    (leftover / "report.aux").write_text("half")
    claim(out)
    assert not leftover.exists() and not list(out.glob(STAGING_PREFIX + "*"))


def test_cli_refuses_root_with_one_error_line(tmp_path):
    from tests.conftest import write_small_config

    cfg = write_small_config(tmp_path)
    proc = subprocess.run([PY, str(ROOT / "build_report.py"), "--config", str(cfg), "--output-dir", "/"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and proc.stderr.startswith("error: refusing to write the outputs into /")
    assert "Traceback" not in proc.stderr


# --------------------------------------------------------------------------- paper
def test_pdf_is_readable_rejects_a_pdf_without_trailer(tmp_path):
    from report.render import pdf_is_readable

    good = sorted((ROOT.parent / "shared").rglob("*.pdf"))[:1] or sorted(Path("/usr/share").rglob("*.pdf"))[:1]
    if good:
        assert pdf_is_readable(good[0])
        data = good[0].read_bytes()
        (tmp_path / "cut.pdf").write_bytes(data[: len(data) // 2])
        assert not pdf_is_readable(tmp_path / "cut.pdf")
    (tmp_path / "junk.pdf").write_bytes(b"%PDF-1.5\n" + b"x" * 100)
    assert not pdf_is_readable(tmp_path / "junk.pdf")
    assert not pdf_is_readable(tmp_path / "missing.pdf")


def _fake_tex(bin_dir: Path, body: str) -> None:
    bin_dir.mkdir()
    for tool in ("latexmk", "pdflatex"):
        (bin_dir / tool).write_text("#!/bin/sh\n" + body)
        (bin_dir / tool).chmod(0o755)


def test_broken_compile_keeps_old_paper_and_clears_the_stamp(tmp_path, monkeypatch):
    """A latexmk that writes a PDF without trailer (what a concurrent or killed build left): nothing published."""
    from report.model import Report
    from report import render

    fig_cache = tmp_path / "figs"
    fig_cache.mkdir()
    out = tmp_path / "out"
    paper = out / "paper"
    paper.mkdir(parents=True)
    (paper / "report.pdf").write_bytes(b"old pdf")
    (paper / ".inputs.sha256").write_text("stale")
    _fake_tex(tmp_path / "bin", 'printf "%%PDF-1.5\\n1 0 obj\\n" > report.pdf\nexit 0\n')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(render.latex_renderer, "render_tex", lambda report, *args: "\\documentclass{article}")
    monkeypatch.setattr(render.latex_renderer, "paper_figures", lambda report: [])
    with pytest.raises(RuntimeError, match="no readable PDF"):
        render.build_paper(Report(title="t", pages=()), paper, {}, fig_cache)
    assert (paper / "report.pdf").read_bytes() == b"old pdf"
    assert not (paper / ".inputs.sha256").exists()  # the next build compiles again
    assert not [p for p in out.iterdir() if p.name != "paper"]  # staging removed


def test_unchanged_paper_with_a_broken_pdf_is_rebuilt(tmp_path, monkeypatch):
    from report.model import Report
    from report import render

    monkeypatch.setattr(render.latex_renderer, "render_tex", lambda report, *args: "\\documentclass{article}")
    monkeypatch.setattr(render.latex_renderer, "paper_figures", lambda report: [])
    paper = tmp_path / "out" / "paper"
    paper.mkdir(parents=True)
    (paper / "report.pdf").write_bytes(b"%PDF-1.5 truncated")
    from report import paper_sources
    from report.paper_classes import ARTICLE
    from report.user_latex import PaperInputs

    nothing = PaperInputs({}, {}, None, None, ())
    files, _ = paper_sources.text_files(Report(title="t", pages=()), ARTICLE, nothing)
    (paper / ".inputs.sha256").write_text(render.paper_stamp(files, {}, nothing, paper))  # the stamp of these inputs
    _fake_tex(tmp_path / "bin", "exit 12\n")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(RuntimeError, match="exit 12"):  # it tried to compile: not "paper unchanged"
        render.build_paper(Report(title="t", pages=()), paper, {}, tmp_path)


# --------------------------------------------------------------------------- locks
HOLDER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {root!r})
    from report.locks import build_locks
    with build_locks({cache!r}, {out!r}):
        print("held", flush=True)
        time.sleep(120)
""")


def _start_holder(tmp_path):
    code = HOLDER.format(root=str(ROOT), cache=str(tmp_path / "cache"), out=str(tmp_path / "out"))
    proc = subprocess.Popen([PY, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_build_waits_then_stops_clearly_and_a_killed_holder_frees_the_lock(tmp_path, monkeypatch, capsys):
    from report.locks import BuildLockedError, build_locks

    holder = _start_holder(tmp_path)
    try:
        monkeypatch.setenv("ATLAS_LOCK_TIMEOUT", "1")
        t0 = time.perf_counter()
        with pytest.raises(BuildLockedError, match="another build still holds"):
            with build_locks(tmp_path / "cache", tmp_path / "out"):
                pass
        assert 0.9 < time.perf_counter() - t0 < 30
        assert "waiting: another build is using the cache" in capsys.readouterr().err
    finally:
        os.kill(holder.pid, signal.SIGKILL)  # kill -9: no cleanup code runs
        holder.wait()
    monkeypatch.setenv("ATLAS_LOCK_TIMEOUT", "5")
    t0 = time.perf_counter()
    with build_locks(tmp_path / "cache", tmp_path / "out"):
        pass
    assert time.perf_counter() - t0 < 4.5  # within the 5 s allowed: the kernel released the dead holder's lock


def test_cache_and_output_in_one_folder_take_one_lock(tmp_path):
    from report.locks import build_locks

    with build_locks(tmp_path, tmp_path):
        pass


# --------------------------------------------------------------------------- embedding files
def _load(kind, tmp_path, **files):
    from analysis.embedding.datasets.embedding_files import (
        CsvEmbeddingsOptions, NpyEmbeddingsOptions, ParquetEmbeddingsOptions, load_embeddings)

    if kind == "csv":
        return load_embeddings("d", CsvEmbeddingsOptions(embeddings_file=files["path"], network="n"))
    if kind == "parquet":
        return load_embeddings("d", ParquetEmbeddingsOptions(embeddings_file=files["path"], network="n"))
    return load_embeddings("d", NpyEmbeddingsOptions(vectors_file=files["path"], labels_file=files["labels"],
                                                     network="n"))


@pytest.mark.parametrize("kind, suffix", [("csv", ".csv"), ("parquet", ".parquet"), ("npy", ".npy")])
def test_empty_embedding_files_are_one_clear_error(tmp_path, kind, suffix):
    path = tmp_path / f"e{suffix}"
    path.write_bytes(b"")
    labels = tmp_path / "labels.txt"
    labels.write_text("a\n")
    with pytest.raises(ValueError, match=r"dataset 'd': .*(empty|cannot read)"):
        _load(kind, tmp_path, path=path, labels=labels)


def _csv(path, identities, vectors):
    pd.DataFrame({"person_id": identities, "image_file": [f"i{k}.jpg" for k in range(len(identities))],
                  "embedding": ["[" + ", ".join(map(repr, map(float, v))) + "]" for v in vectors]}).to_csv(path, index=False)


def test_na_like_identities_are_identities(tmp_path):
    names = ["NA", "None", "null", "n/a", "NaN", "nan", "#N/A", "-"]
    rng = np.random.default_rng(0)
    _csv(tmp_path / "e.csv", names * 2, rng.standard_normal((16, 8)))
    loaded = _load("csv", tmp_path, path=tmp_path / "e.csv")
    assert sorted(set(loaded.embeddings.identities)) == sorted(names)
    assert len(loaded.skipped) == 0


def test_complex_npy_is_rejected(tmp_path):
    np.save(tmp_path / "v.npy", np.ones((4, 3)) + 1j)
    (tmp_path / "l.txt").write_text("a\nb\nc\nd\n")
    with pytest.raises(ValueError, match="expected real numbers"):
        _load("npy", tmp_path, path=tmp_path / "v.npy", labels=tmp_path / "l.txt")


def test_huge_and_zero_vectors_are_recorded_skips(tmp_path):
    from analysis.embedding.datasets.embedding_files import TOO_LARGE, ZERO_VECTOR

    rng = np.random.default_rng(1)
    vecs = rng.standard_normal((10, 8))
    vecs[0] *= 1e30
    vecs[1] = 0.0
    _csv(tmp_path / "e.csv", list("aabbccddee"), vecs)
    loaded = _load("csv", tmp_path, path=tmp_path / "e.csv")
    assert dict(zip(loaded.skipped["item"], loaded.skipped["reason"])) == {"i0.jpg": TOO_LARGE, "i1.jpg": ZERO_VECTOR}
    _csv(tmp_path / "all.csv", list("aabb"), rng.standard_normal((4, 8)) * 1e30)
    with pytest.raises(ValueError, match="no valid embedding row.*magnitude"):
        _load("csv", tmp_path, path=tmp_path / "all.csv")


def test_identical_rows_are_counted_for_the_data_page():
    from report.pages.data import identical_rows

    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    assert identical_rows(x) == 0
    assert identical_rows(np.vstack([x, x[:2]])) == 2


def test_pca_on_10000_dimensions_is_fast_and_exact():
    from analysis.statistics.pca_solver import pca

    x = np.random.default_rng(0).standard_normal((24, 10_000))
    t0 = time.perf_counter()
    coords = pca(2, *x.shape).fit_transform(x)
    assert time.perf_counter() - t0 < 5  # covariance_eigh took 165 s here
    ref = np.linalg.svd(x - x.mean(0), full_matrices=False)[0][:, :2] * np.linalg.svd(x - x.mean(0), compute_uv=False)[:2]
    assert np.allclose(np.abs(coords), np.abs(ref), atol=1e-6)
    assert pca(2, 5000, 512).svd_solver == "covariance_eigh" and pca(2, 50_000, 4096).svd_solver == "randomized"


# --------------------------------------------------------------------------- config
@pytest.mark.parametrize("extra, message", [
    ("[clustering]\ndbscan_eps = [nan]", "finite"),
    ("[classifiers]\nsvm_c = inf", "finite"),
    ("[study]\nseed = -1", "between 0 and 2\\*\\*32"),
    ("[study]\nseed = 4294967296", "between 0 and 2\\*\\*32"),
])
def test_config_rejects_non_finite_and_out_of_range(tmp_path, extra, message):
    import tomllib

    from analysis.config import ConfigError, parse_config

    raw = tomllib.loads('[[datasets]]\nname = "d"\nkind = "synthetic"\n' + extra)
    with pytest.raises(ConfigError, match=message):
        parse_config(raw, tmp_path / "s.toml")


@pytest.mark.parametrize("subsets, outcome", [
    (["all\n"], ("all",)), ([" min-04 "], ("min-4",)), (["all", "all\n"], "used twice"),
    (["min-4", "min-04"], "used twice"), (["min-\u0664"], "ASCII"), (["min -4"], "ASCII"),
])
def test_subset_names_are_normalised(tmp_path, subsets, outcome):
    from analysis.config import ConfigError, parse_config

    raw = {"subsets": subsets, "datasets": [{"name": "d", "kind": "synthetic"}]}
    if isinstance(outcome, tuple):
        assert parse_config(raw, tmp_path / "s.toml").subsets == outcome
    else:
        with pytest.raises(ConfigError, match=outcome):
            parse_config(raw, tmp_path / "s.toml")


@pytest.mark.slow  # two CLI processes: ~13 s idle, more on a busy machine
def test_data_error_is_one_line_exit_2_and_traceback_only_with_debug(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "s.toml").write_text(
        '[study]\noutput_dir = "out"\ncache_dir = "cache"\n[[datasets]]\nname = "d"\nkind = "csv-embeddings"\n'
        'embeddings_file = "empty.csv"\nnetwork = "n"\n')
    cmd = [PY, str(ROOT / "build_report.py"), "--config", str(tmp_path / "s.toml"), "--no-site", "--no-paper"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if not line.startswith("stage: ")]  # progress lines aside
    assert len(errors) == 1 and errors[0].startswith("error: dataset 'd'") and "empty" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr
    debug = subprocess.run(cmd + ["--debug"], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert debug.returncode == 2 and "Traceback" in debug.stderr


# --------------------------------------------------------------------------- listings
def test_folders_without_embeddings_are_listed_with_a_reason(tmp_path):
    from analysis.embedding.datasets.manifest import EMPTY_FOLDER, FOLDER_NAMED_LIKE_IMAGE
    from analysis.embedding.datasets.walk import list_tree

    (tmp_path / "Alice").mkdir()
    (tmp_path / "Alice" / "1.jpg").write_bytes(b"x")
    (tmp_path / "Empty_Person").mkdir()
    (tmp_path / "Bob" / "31_dir.jpg").mkdir(parents=True)
    (tmp_path / "Bob" / "31_dir.jpg" / "note.txt").write_text("x")
    listing = list_tree(tmp_path, False, (".jpg",))
    assert dict(listing.folders) == {"Empty_Person/": EMPTY_FOLDER, "Bob/31_dir.jpg/": FOLDER_NAMED_LIKE_IMAGE}
    assert not listing.skips


def test_unreadable_identity_folder_is_listed(tmp_path, monkeypatch):
    from analysis.embedding.datasets.walk import list_tree

    locked = tmp_path / "Locked"
    locked.mkdir()
    (locked / "1.jpg").write_bytes(b"x")
    real_scandir = os.scandir

    def scandir(path="."):  # chmod 000 does not stop root: refuse the folder the way the kernel would
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    listing = list_tree(tmp_path, False, (".jpg",))
    assert dict(listing.skips) == {"Locked/": "unreadable folder (PermissionError)"} and not listing.files


def test_multi_face_images_are_counted():
    from report.pages.data import multi_face_images

    trace = pd.DataFrame({"item": ["a.jpg"] * 5 + ["b.jpg", "c.jpg"], "face_index": [0, 1, 2, 3, 4, 0, -1]})
    table = multi_face_images({"dlib": trace})
    assert table.to_dict("records") == [{"network": "dlib", "item": "a.jpg", "faces": 5, "dropped": 4}]


# --------------------------------------------------------------------------- console
def test_line_progress_prints_without_a_terminal_at_most_every_30_s():
    import io

    from analysis.progress import LineProgress

    now = [0.0]
    stream = io.StringIO()
    bar = LineProgress(100, "faces", "img", stream=stream, clock=lambda: now[0])
    for _ in range(10):  # 10 images in 10 s: no line yet
        now[0] += 1
        bar.update(1)
    now[0] += 25
    bar.update(5)  # 35 s: one line
    bar.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and lines[0].startswith("faces: 0/100 img") and "(running)" in lines[1]
    assert "15/100 img (15%)" in lines[1] and lines[2].endswith("(done)")


def test_summary_wording_and_skips_by_reason():
    from types import SimpleNamespace

    from report.console import output_state, skip_summary

    assert output_state("site", False, False).startswith("site not built")
    assert output_state("paper", True, False) == "paper unchanged"
    skipped = pd.DataFrame({"network": ["(all)"] * 3, "item": ["a", "b", "c/"],
                            "reason": ["empty file", "empty file", "empty folder"]})
    inp = SimpleNamespace(spec=SimpleNamespace(name="faces"), skipped=skipped)
    lines = skip_summary([inp], lambda name: f"data/{name}.md")
    assert lines == ["  skipped in faces: 3 input(s): 2 empty file; 1 empty folder",
                     "    full table: docs/data/faces.md (section 'Skipped inputs')"]


def test_cli_without_terminal_asks_for_progress_and_words_outputs_honestly(tmp_path, monkeypatch, capsys):
    """stderr not a terminal (pytest captures it): progress is still on, "not built" for switched-off outputs."""
    from types import SimpleNamespace

    import report.driver
    from report import cli
    from tests.conftest import write_small_config

    seen = {}

    def fake_run(config, progress, build_site, build_paper):
        seen.update(progress=progress, site=build_site, paper=build_paper)
        skipped = pd.DataFrame({"network": ["(all)"], "item": ["Empty/"], "reason": ["empty folder"]})
        results = SimpleNamespace(cells=(), inputs=[SimpleNamespace(spec=SimpleNamespace(name="mini"), skipped=skipped)])
        outputs = SimpleNamespace(figures_drawn=0, figures_reused=3, site_rebuilt=False, paper_rebuilt=False,
                                  docs_dir=tmp_path / "docs", site_index=None, pdf=None)
        log = SimpleNamespace(computed=[], reused=["x"], warnings=[], timings={"total": 1.0}, review=[], models=[])
        return results, outputs, log

    monkeypatch.setattr(report.driver, "run", fake_run)
    cfg = write_small_config(tmp_path, site=True, paper=True)
    assert cli.main(["--config", str(cfg), "--no-site", "--no-paper"]) == 0
    out = capsys.readouterr().out
    assert seen == {"progress": True, "site": False, "paper": False}
    assert "site not built" in out and "paper not built" in out and "unchanged" not in out
    assert "skipped in mini: 1 input(s): 1 empty folder" in out and "docs/data/mini.md" in out


# --------------------------------------------------------------------------- workers
POOL = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, {root!r})
    from joblib import Parallel, delayed
    from analysis.embedding.lifeline import die_with_parent, mark_parent

    def work(i, folder):
        die_with_parent(poll_s=0.2)
        open(os.path.join(folder, f"worker-{{os.getpid()}}"), "w").close()
        for _ in range(1200):  # two minutes of "writing chunks" unless stopped
            time.sleep(0.1)
            with open(os.path.join(folder, f"tick-{{os.getpid()}}"), "a") as fh:
                fh.write(".")

    mark_parent()
    Parallel(n_jobs=2, backend="loky")(delayed(work)(i, {folder!r}) for i in range(2))
""")


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in state  # a zombie has stopped; only its exit status is left


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
def test_loky_workers_die_with_a_killed_parent(tmp_path):
    parent = subprocess.Popen([PY, "-c", POOL.format(root=str(ROOT), folder=str(tmp_path))])
    try:
        deadline = time.time() + 120
        while len(list(tmp_path.glob("worker-*"))) < 2 and time.time() < deadline:
            time.sleep(0.2)
        workers = [int(p.name.split("-")[1]) for p in tmp_path.glob("worker-*")]
        assert len(workers) == 2 and all(_running(w) for w in workers)
    finally:
        os.kill(parent.pid, signal.SIGKILL)  # kill -9: no atexit, no joblib shutdown
        parent.wait()
    deadline = time.time() + 15
    while any(_running(w) for w in workers) and time.time() < deadline:
        time.sleep(0.2)
    alive = [w for w in workers if _running(w)]
    for w in alive:  # do not leave them behind even when the test fails
        os.kill(w, signal.SIGKILL)
    assert not alive, f"workers {alive} outlived their killed parent"
    sizes = {p.name: p.stat().st_size for p in tmp_path.glob("tick-*")}
    time.sleep(1.0)
    assert sizes == {p.name: p.stat().st_size for p in tmp_path.glob("tick-*")}  # nothing writes any more


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl(PR_SET_PDEATHSIG) is Linux only")
def test_tool_subprocess_dies_with_a_killed_build(tmp_path):
    """latexmk/mkdocs run with lifeline.kill_with_parent: no orphan keeps writing after kill -9."""
    code = textwrap.dedent(f"""
        import subprocess, sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from analysis.embedding.lifeline import kill_with_parent
        child = subprocess.Popen(["sleep", "120"], preexec_fn=kill_with_parent)
        print(child.pid, flush=True)
        time.sleep(120)
    """)
    parent = subprocess.Popen([PY, "-c", code], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    assert _running(child)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.time() + 10
    while _running(child) and time.time() < deadline:
        time.sleep(0.1)
    if _running(child):
        os.kill(child, signal.SIGKILL)
        pytest.fail("the tool subprocess outlived the killed build")
