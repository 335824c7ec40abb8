"""Detection-overlay pages: which photos are shown, what is drawn, and that only galleries = true shows them.

Unit tests run on hand-made traces; the end-to-end test builds the unlabelled celebrity photos
(group photos included) with dlib and ``galleries = true`` and looks at the page in Chromium
(skipped without ../shared or dlib).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.embedding.overlay_photos import photo_detections, photo_facts
from analysis.statistics.detection_sample import (NO_FACE, ONE_FACE, REJECTED, SEVERAL, DetectionSampleParams,
                                                  choose_photos)
from tests.conftest import CELEBS, ROOT, chromium_path

SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"


def _trace() -> pd.DataFrame:
    """40 photos: 5 group photos (2-3 valid faces), 8 with a low-score candidate, 3 without a face, 24 portraits."""
    rows = []

    def face(item, k, status, kept, score, x=10.0):
        rows.append({"item": item, "face_index": k, "status": status, "kept": kept, "score": score, "x1": x, "y1": 10.0,
                     "x2": x + 60, "y2": 70.0, **{f"{a}{i}": x + 5 * i for i in range(5) for a in ("lx", "ly")}})

    for n in range(5):
        face(f"g/group-{n}.jpg", 0, "kept", True, 0.99)
        face(f"g/group-{n}.jpg", 1, "other face (not kept)", False, 0.95, 100)
        if n % 2:
            face(f"g/group-{n}.jpg", 2, "other face (not kept)", False, 0.9, 200)
    for n in range(8):
        face(f"r/rej-{n}.jpg", 0, "kept", True, 0.97)
        face(f"r/rej-{n}.jpg", 1, "low score" if n % 2 else "face too small", False, 0.3, 120)
    for n in range(3):
        rows.append({"item": f"n/none-{n}.jpg", "face_index": -1, "status": "no face", "kept": False, "score": np.nan})
    for n in range(24):
        face(f"p/portrait-{n:02d}.jpg", 0, "kept", True, 0.99)
    return pd.DataFrame(rows)


def test_photo_facts_count_valid_rejected_and_kept_faces():
    facts = photo_facts(_trace()).set_index("item")
    assert len(facts) == 40
    assert facts.loc["g/group-1.jpg"].tolist() == [3, 0, 1]
    assert facts.loc["r/rej-0.jpg"].tolist() == [1, 1, 1]
    assert facts.loc["n/none-0.jpg"].tolist() == [0, 0, 0]
    rows = photo_detections(_trace(), ["g/group-1.jpg", "n/none-0.jpg"])
    assert rows["item"].tolist() == ["g/group-1.jpg"] * 3 and rows["face_index"].tolist() == [0, 1, 2]


def test_the_sample_covers_every_outcome_and_is_seeded():
    facts = photo_facts(_trace())
    args = (facts["item"], facts["n_valid"], facts["n_rejected"], facts["n_kept"])
    choice = choose_photos(*args, random_state=3)
    assert len(choice.items) == 12 and len(set(choice.items)) == 12
    assert [choice.strata.count(s) for s in (SEVERAL, REJECTED, NO_FACE, ONE_FACE)] == [4, 4, 2, 2]
    assert list(choice.strata) == sorted(choice.strata, key=[SEVERAL, REJECTED, NO_FACE, ONE_FACE].index)
    assert dict(choice.counts) == {SEVERAL: 5, REJECTED: 8, NO_FACE: 3, ONE_FACE: 24} and choice.n_photos == 40
    assert choose_photos(*args, random_state=3) == choice
    assert choose_photos(*args, random_state=4) != choice
    shuffled = facts.sample(frac=1.0, random_state=0)  # the input order does not matter
    assert choose_photos(shuffled["item"], shuffled["n_valid"], shuffled["n_rejected"], shuffled["n_kept"],
                         random_state=3) == choice
    # Too few photos of a kind: the places go to the others; fewer photos than asked: all of them.
    few = facts[facts["item"].str.startswith(("p/", "n/"))]
    c = choose_photos(few["item"], few["n_valid"], few["n_rejected"], few["n_kept"], random_state=0)
    assert len(c.items) == 12 and c.strata.count(NO_FACE) == 2 and c.strata.count(ONE_FACE) == 10
    tiny = choose_photos(["a.jpg"], [1], [0], [1], DetectionSampleParams(n_photos=5))
    assert tiny.items == ("a.jpg",)
    with pytest.raises(ValueError, match="unique"):
        choose_photos(["a", "a"], [1, 1], [0, 0], [1, 1])
    with pytest.raises(ValueError):
        DetectionSampleParams(n_photos=0)


def test_overlay_page_escapes_names_and_stays_out_of_the_paper():
    from analysis.embedding.overlay_photos import Photos
    from report.detections_stage import DatasetDetections, NetworkDetections
    from report.pages.detections import page
    from report.site import MarkdownRenderer

    trace = _trace()
    trace.loc[trace["item"] == "g/group-0.jpg", "item"] = "<script>alert(1)</script>.jpg"
    facts = photo_facts(trace)
    choice = choose_photos(facts["item"], facts["n_valid"], facts["n_rejected"], facts["n_kept"])
    photos = Photos({i: np.full((80, 320, 3), 200, np.uint8) for i in choice.items}, {i: 1.0 for i in choice.items}, {})
    data = DatasetDetections("<b>ds</b>", choice, photos,
                             (NetworkDetections("net", "dlib-hog", photo_detections(trace, choice.items), 0.0, 40.0),),
                             DetectionSampleParams())
    p = page(data)
    figures = [b for b in p.blocks() if hasattr(b, "plot")]
    assert figures and not any(f.in_paper for f in figures)
    text = MarkdownRenderer().page(p)
    assert "<script>alert" not in text and "<b>ds</b>" not in text and "Biometric data" in text
    fig = figures[0].plot(figures[0].data)  # draws every panel (names as plain text)
    assert len([a for a in fig.axes if a.images]) == 12
    from report import plotting
    plotting.close(fig)


@pytest.mark.slow
@pytest.mark.skipif(not CELEBS.is_dir(), reason="../shared/data/celebrity-faces not present")
def test_group_photos_of_an_unlabelled_set_show_every_face(tmp_path):
    pytest.importorskip("dlib", reason="dlib-bin is not installed")
    from analysis.config import load_config
    from report.driver import run
    from tests.unlabelled_fixtures import make_unlabelled_photos, write_unlabelled_config

    photos = make_unlabelled_photos(tmp_path)
    config = write_unlabelled_config(tmp_path / "study", photos.root, tmp_path / "cache")
    config.write_text(config.read_text(encoding="utf-8").replace("build_site = false", "build_site = true\ngalleries = true"),
                      encoding="utf-8")
    results, outputs, build = run(load_config(config), progress=False)
    out = tmp_path / "study" / "out"
    data = results.detections["archive"]
    groups = set(photos.groups)
    assert groups <= set(data.choice.items)  # every group photo is in the sample (4 of them, the first stratum)
    (net,) = data.networks
    for group, people in photos.groups.items():
        faces = net.rows[net.rows["item"] == group]
        assert (faces["status"] == "extra face (kept)").sum() + (faces["status"] == "kept").sum() == len(people)
    md = (out / "docs" / "data" / "archive-detections.md").read_text(encoding="utf-8")
    assert "Biometric data" in md and "events/group-1.jpg" in md and "kept (every face)" in md
    html = out / "site" / "data" / "archive-detections.html"
    png = out / "site" / "figures" / "archive-detections-dlib-overlays.png"
    assert html.is_file() and png.stat().st_size > 50_000
    assert not (out / "paper").exists() or "detections" not in "".join(p.name for p in (out / "paper").rglob("*"))

    playwright = pytest.importorskip("playwright.sync_api")
    if chromium_path() is None:
        pytest.skip("chromium not installed")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 1400})
        page.goto(html.as_uri(), wait_until="load")
        page.evaluate("document.querySelectorAll('img[loading=lazy]').forEach(i => i.loading = 'eager')")
        page.wait_for_function("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
        page.locator("figure").first.screenshot(path=str(SCREENSHOTS / "detections-unlabelled.png"))
        browser.close()

    # Galleries off: no detection page, no overlay figure.
    run(load_config(config, overrides={"galleries": False}), progress=False)
    assert not list((out / "docs").rglob("*detections*")) and not list((out / "site").rglob("*detections*"))
