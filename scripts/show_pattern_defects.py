"""Print what xrdsynth.io.read_pattern makes of the inputs behind the reading defects of issue #15.

    python scripts/show_pattern_defects.py [DATA_DIR]       # DATA_DIR: tests/data/pattern-files

Two inputs are real files of DATA_DIR (an .xrdml stating a Kα2/Kα1 ratio of 0; a RAW4.00 file with 8-byte
steps); the others are small files written here to each format's layout (a GSAS .fxye in centidegrees,
time-of-flight .gsa and .xye files, a two-column .xye, a Rigaku .ras and a UXD file stating their wavelength,
a GSAS STD bank and an ILL-style block of counts without a header this reader knows). Uses only
``read_pattern(path)``, so it runs against older versions of the library too.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

from xrdsynth.io import PatternFileError, read_pattern

COUNTS = [10, 12, 30, 95, 40, 15, 11, 10]


def _inputs(data_dir: Path, folder: Path) -> list[tuple[str, Path]]:
    def write(name: str, text: str) -> Path:
        path = folder / name
        path.write_text(text, encoding="utf-8")
        return path

    x = np.linspace(500.0, 4999.6, len(COUNTS))
    fxye = "".join(f"{a:.2f} {c}.0 {c**0.5:.3f}\n" for a, c in zip(x, COUNTS, strict=True))
    tof = "".join(f"{1000 + 10 * i} {c} 1\n" for i, c in enumerate(COUNTS))
    xy = "".join(f"{20 + 0.02 * i:.2f} {c}\n" for i, c in enumerate(COUNTS))
    ras_rows = "".join(f"{20 + 0.02 * i:.4f} {c} 1.0000\r\n" for i, c in enumerate(COUNTS))
    std = "".join(f"{'':2}{c:6d}" for c in COUNTS)
    block = "\n".join(" ".join(str(100 + (i * 37 + j * 13) % 50) for j in range(10)) for i in range(5))
    return [
        ("xrdml stating <ratioKAlpha2KAlpha1>0.0000", data_dir / "xrdml/xrdtools_test_scan.xrdml"),
        ("RAW4.00 with 8-byte steps", data_dir / "raw4/nomad_TwoTheta_scan_scrambled.raw"),
        (
            "GSAS .fxye, 2θ in centidegrees",
            write("cdeg.fxye", f"quartz\nBANK 1 8 8 CONS 500.0 642.8 0 0 FXYE\n{fxye}"),
        ),
        (
            "GSAS time-of-flight .gsa",
            write("tof.gsa", f"TOF run lambda 1.54\nBANK 1 8 2 RALF 1000 32 1000 0 FXYE\n{tof}"),
        ),
        (
            "xye whose header says Time-of-flight",
            write("tof.xye", f"/*\n# Time-of-flight, wavelength 1.54\n*/\n{tof}"),
        ),
        ("two-column .xye", write("two.xye", xy)),
        (
            "Rigaku .ras stating its wavelength",
            write(
                "s.ras",
                '*RAS_DATA_START\r\n*RAS_HEADER_START\r\n*HW_XG_WAVE_LENGTH_ALPHA1 "1.540593"\r\n'
                '*MEAS_COND_XG_WAVE_TYPE "Ka1"\r\n*MEAS_SCAN_AXIS_X "TwoTheta"\r\n*RAS_HEADER_END\r\n'
                f"*RAS_INT_START\r\n{ras_rows}*RAS_INT_END\r\n*RAS_DATA_END\r\n",
            ),
        ),
        (
            "UXD stating _WL1",
            write(
                "s.uxd",
                "_FILEVERSION=1\n_WL1=1.540600\n_DRIVE='COUPLED'\n_STEPSIZE=0.02\n_START=20.0\n_COUNTS\n"
                + " ".join(map(str, COUNTS))
                + "\n",
            ),
        ),
        ("GSAS STD bank", write("std.gsa", f"title\nBANK 1 8 1 CONST 1000.0 5.0 0 0 STD\n{std}\n")),
        ("ILL-style block of counts", write("d1a.dat", f"D1A run\n{block}\n")),
    ]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    data_dir = Path(args[0]) if args else Path("tests/data/pattern-files")
    with tempfile.TemporaryDirectory() as folder:
        for defect, path in _inputs(data_dir, Path(folder)):
            try:
                p = read_pattern(path)
                wavelength = "no λ" if p.wavelength is None else f"λ {p.wavelength:g}"
                if getattr(p, "wavelength2", None) is not None:
                    wavelength += f"/{p.wavelength2:g}"
                wavelength += "" if p.wavelength is None else " Å"
                sigma = ", with σ" if p.sigma is not None else ""
                first, last = p.two_theta[0], p.two_theta[-1]
                outcome = f"read: {len(p)} points, 2θ {first:g}-{last:g}°, {wavelength}{sigma}"
            except PatternFileError as error:
                outcome = "refused: " + str(error).split(": ", 1)[-1]
            print(f"{defect:<42} {outcome[:170]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
