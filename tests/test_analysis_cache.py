"""The analysis cache is keyed on the statistics half's code as well as the data."""
from __future__ import annotations

import report.study as study

CALLS: list[int] = []


def _compute(x):
    CALLS.append(x)
    return x * 2


def test_a_result_cached_by_one_version_of_the_analyses_is_not_read_by_another(tmp_path, monkeypatch):
    CALLS.clear()
    assert study.run_cached_step(_compute, str(tmp_path), (3,), {})[:2] == ("ok", 6)
    assert study.run_cached_step(_compute, str(tmp_path), (3,), {})[:2] == ("ok", 6)
    assert CALLS == [3]  # the second call was a cache hit
    monkeypatch.setattr(study, "analysis_code_digest", lambda: "0123456789abcdef")  # the analyses changed
    assert study.run_cached_step(_compute, str(tmp_path), (3,), {})[:2] == ("ok", 6)
    assert CALLS == [3, 3]


def test_the_code_digest_covers_every_statistics_module(tmp_path, monkeypatch):
    from report import code_digest

    assert study.analysis_code_digest is code_digest.analysis_code_digest  # the analysis cache uses this one
    code_digest.analysis_code_digest.cache_clear()
    first = code_digest.analysis_code_digest()
    assert len(first) == 16 and first == code_digest.analysis_code_digest()
    # The same digest from a copy of the files, and another once one module changes.
    root = tmp_path / "analysis"
    src = study.Path(code_digest.__file__).resolve().parent.parent / "analysis"
    for f in [*(src / "statistics").rglob("*.py"), src / "types.py"]:
        dst = root / f.relative_to(src)
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(f.read_bytes())
    (tmp_path / "report").mkdir()
    monkeypatch.setattr(code_digest, "__file__", str(tmp_path / "report" / "code_digest.py"))
    code_digest.analysis_code_digest.cache_clear()
    assert code_digest.analysis_code_digest() == first
    deep = root / "statistics" / "identification" / "search.py"
    deep.write_text(deep.read_text() + "\n# changed\n")
    code_digest.analysis_code_digest.cache_clear()
    assert code_digest.analysis_code_digest() != first
    code_digest.analysis_code_digest.cache_clear()
