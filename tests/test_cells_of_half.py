"""scripts/cells_of_half.py: cells from one half of the minerals, everything else from the base."""

from __future__ import annotations

import shutil
import zlib
from pathlib import Path

from conftest import CIF_DIR, load_script
from xrdsynth.sampler import SamplerStatistics, default_statistics, fit_statistics


def _folder(tmp_path: Path) -> tuple[Path, dict[int, list[str]]]:
    """A small amcsd-dev-like folder: 12 fixture CIFs under made-up mineral names, and its halves."""
    (tmp_path / "cifs").mkdir()
    lines, halves = ["amcsd_id,file,mineral"], {0: [], 1: []}
    for k, cif in enumerate(sorted(CIF_DIR.glob("amcsd_*.cif"))[:12]):
        shutil.copy(cif, tmp_path / "cifs" / cif.name)
        amcsd_id, mineral = cif.stem.removeprefix("amcsd_"), f"Mineral{k}"
        lines.append(f"{amcsd_id},cifs/{cif.name},{mineral}")
        halves[zlib.crc32(mineral.lower().encode()) % 2].append(cif.name)
    (tmp_path / "index.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tmp_path, halves


def test_cells_come_from_one_half_and_the_rest_from_the_base(tmp_path: Path) -> None:
    script = load_script("cells_of_half")
    folder, halves = _folder(tmp_path)
    assert halves[0] and halves[1]
    for half in (0, 1):
        assert sorted(p.name for p in script.half_files(folder, half)) == sorted(halves[half])
    base = default_statistics()
    out = tmp_path / "half0.json"
    args = [str(folder), "--mineral-half", "0", "--out", str(out), "--cell-kernel-width", "0.05"]
    assert script.main(args) == 0
    stats = SamplerStatistics.load(out)
    # The cells are those fitted on the half's files alone (four structures: the systems' fallbacks).
    alone = fit_statistics([folder / "cifs" / name for name in halves[0]], progress=False)
    assert stats.lattice == alone.lattice and stats.cells_by_group == alone.cells_by_group
    assert stats.lattice != base.lattice and base.cells_by_group
    assert stats.cell_kernel_width == 0.05 and base.cell_kernel_width == 0.02
    assert stats.element_volumes == base.element_volumes and stats.volume_shift == base.volume_shift
    assert stats.min_distances == base.min_distances and stats.space_group_counts == base.space_group_counts
    assert f"{len(halves[0])} structures of mineral half 0" in stats.summary["cells_from"]
