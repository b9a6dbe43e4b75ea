"""scripts/survey_pattern_files.py: one row per file, read or refused with the reader's reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import load_script

survey_pattern_files = load_script("survey_pattern_files")


def test_rows_and_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = "\n".join(f"{10 + 0.02 * i:.2f} {100 + i % 7}" for i in range(50))
    (tmp_path / "scan.xy").write_text("# wavelength = 1.5406\n" + rows + "\n", encoding="ascii")
    (tmp_path / "pdf.gr").write_text(rows + "\n", encoding="ascii")
    (tmp_path / "empty.txt").write_text("", encoding="ascii")  # skipped: nothing to read
    assert survey_pattern_files.main([str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("refused  pdf.gr: 'a .gr file': a pair distribution function")
    assert out[1] == "read     scan.xy: xy, 1 range(s), 50 points, 2θ 10-10.98°, λ 1.5406"
    assert out[-1] == "2 files: 1 read (xy 1), 1 refused"
