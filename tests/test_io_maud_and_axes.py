"""Layouts found in other programs' public example data (docs/formats.md, "Checked on real files"): MAUD's
.dat, .ddq and ILL D1B files (tests/data/patterns, BSD-3-Clause), xylib's ILL D1A and PSI DMC files
(LGPL-2.1), a GSAS bank shorter than stated, Rigaku's angle-and-counts rows, and files that are no 2θ scan
(another goniometer angle, Q of small-angle data, r of a pair distribution function, a list of reflections):
read as the format's own program reads them, or refused with the reason, never read as something else."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from xrdsynth.io import PatternFileError, read_all_patterns, read_pattern, write_pattern

DATA = Path(__file__).parent / "data" / "patterns"


def _lines(path: Path) -> list[str]:
    return path.read_bytes().decode("ascii").replace("\r", "\n").splitlines()


def test_maud_dat_with_one_count_more_than_stated_reads_the_stated_ones() -> None:
    path = DATA / "maud_bbm48bis.dat"
    lines = _lines(path)
    counts = [float(line) for line in lines[2:] if line.strip()]  # one count a line, tabs after it
    assert len(counts) == 1801 and lines[1].split() == ["1800", "0.05", "25", "1.5405981", "1"]
    p = read_pattern(path)
    assert p.format == "steps" and len(p) == 1800
    np.testing.assert_allclose(p.two_theta, 25.0 + 0.05 * np.arange(1800), rtol=0, atol=1e-9)
    np.testing.assert_array_equal(p.intensity, counts[:1800])
    assert p.wavelength == 1.5405981
    assert p.metadata["sample"] == "beta-brass ball milled 48 hours, bis"
    assert p.metadata["note"] == "1801 counts where line 2 states 1800: the first 1800 read"


def test_maud_dat_counts_beyond_a_line_more_are_not_that_layout(tmp_path: Path) -> None:
    """Less than one line more than stated is read as MAUD reads it; more than that, or fewer than stated,
    is refused with both numbers (the counts would otherwise stand on a grid the file does not state)."""
    for extra in (-1, 2):
        path = tmp_path / f"extra{extra}.dat"
        counts = [f"{100 + i % 7}" for i in range(300 + extra)]
        path.write_text("\r".join(["title", "300 0.05 20 1.5405981 1", *counts]) + "\r")
        with pytest.raises(PatternFileError, match=f"line 2 states 300 counts .*, but {300 + extra} follow"):
            read_pattern(path)


def test_maud_dat_with_two_columns_takes_the_wavelength_from_its_line(tmp_path: Path) -> None:
    two_theta = 20.0 + 0.05 * np.arange(300)
    rows = [f"{t:.3f} {100 + 50 * np.exp(-(((t - 30) / 0.2) ** 2)):.1f}" for t in two_theta]
    path = tmp_path / "two.dat"
    path.write_text("\r".join(["title", "300 0.05 20 1.5405981 2", *rows]) + "\r")
    p = read_pattern(path)
    np.testing.assert_allclose(p.two_theta, np.round(two_theta, 3))
    assert p.wavelength == 1.5405981 and p.intensity.max() == 150.0
    # The same rows under a line that is not MAUD's (no wavelength in range) state no wavelength.
    path.write_text("\r".join(["title", "300 0.05 20 15 2", *rows]) + "\r")
    assert read_pattern(path).wavelength is None


def test_maud_ddq_is_q_and_needs_a_wavelength() -> None:
    path = DATA / "maud_G11.ddq"
    q = np.loadtxt(path)[:, 0]
    assert len(q) == 591 and q.max() < 0.5  # read as 2θ in degrees it would be a scan of 0.02-0.44°
    with pytest.raises(PatternFileError, match=r"the x axis is Q \('Q of a MAUD .ddq file'\).*wavelength"):
        read_pattern(path)


def _scan(path: Path, header: list[str]) -> Path:
    rows = [f"{10 + 2 * i:.2f} {100 + 10 * (i % 5)}" for i in range(41)]
    path.write_text("\n".join([*header, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("header", "said"),
    [
        (["Omega (deg)  Intensity"], "Omega (deg)"),
        (["phi counts"], "phi"),
        (["# Scan axis: Phi"], "# Scan axis: Phi"),
        (["DRIVE = 'CHI'"], "DRIVE = 'CHI'"),
        # Rigaku 3DExplore's pole-figure export: α, β and the intensity.
        (["# 3DExplore ascii", '# axis type : "Alpha" "Beta"', "# number of data : 41 1"],
         '# axis type : "Alpha" "Beta"'),
    ],
)  # fmt: skip
def test_an_angle_other_than_two_theta_is_refused(tmp_path: Path, header: list[str], said: str) -> None:
    path = _scan(tmp_path / "scan.txt", header)
    with pytest.raises(PatternFileError, match="goniometer angle other than 2θ") as raised:
        read_pattern(path)
    assert repr(said) in str(raised.value)


@pytest.mark.parametrize(
    "header", [["# Scan axis: Omega-2Theta"], ["Angle Intensity"], ["# Scan axis: Gonio"], ["Theta counts"]]
)
def test_two_theta_scans_named_with_other_angles_are_read(tmp_path: Path, header: list[str]) -> None:
    p = read_pattern(_scan(tmp_path / "scan.txt", header))
    assert len(p) == 41 and (p.two_theta[0], p.two_theta[-1]) == (10.0, 90.0)


def test_a_two_theta_column_beside_an_omega_column_is_read(tmp_path: Path) -> None:
    rows = [f"{5 + i:.2f} {10 + 2 * i:.2f} {100 + i}" for i in range(41)]
    path = tmp_path / "coupled.txt"
    path.write_text("\n".join(["Omega 2Theta Intensity", *rows]) + "\n", encoding="utf-8")
    p = read_pattern(path)
    assert (p.two_theta[0], p.two_theta[-1], p.intensity[-1]) == (10.0, 90.0, 140.0)


def _ill_counts(path: Path) -> list[list[float]]:
    """The counts of each numor of an ILL D1B file, decoded here independently: after the line that states
    the cell count, every 10-character (I2, I8) field up to the ``-1000`` line."""
    numors, current = [], None
    for line in _lines(path):
        if line.strip() == "-1000":
            numors.append(current)
            current = None
        elif current is not None:
            current.extend(float(line[c + 2 : c + 10]) for c in range(0, len(line.rstrip()), 10))
        elif line.startswith(" 400 "):
            current = []
    return numors


def test_ill_d1b_numors_are_ranges_read_as_maud_reads_them() -> None:
    path = DATA / "maud_gtial1_first3.F1B"
    patterns = read_all_patterns(path)
    counts = _ill_counts(path)
    assert len(patterns) == len(counts) == 3
    for p, expected, numor in zip(patterns, counts, ("45791", "45792", "45793"), strict=True):
        assert p.format == "ill_d1b" and len(p) == 400
        np.testing.assert_allclose(p.two_theta, 30.01 + 0.2 * np.arange(400), rtol=0, atol=1e-9)
        np.testing.assert_array_equal(p.intensity, expected)
        assert (p.wavelength, p.wavelength2) == (2.52, None)
        assert p.metadata["numor"] == numor and p.metadata["probe"] == "neutron"
        assert p.metadata["title"] == "CHATEIJLS GTiAl1"
    assert [p.metadata["omega"] for p in patterns] == ["240.010"] * 3
    assert [p.metadata["phi"] for p in patterns] == ["0.000", "10.000", "20.000"]
    assert read_pattern(path, scan=2).metadata["date"] == "13-JUL-98 22:41:27"


def test_ill_d1b_numor_with_a_missing_count_is_refused(tmp_path: Path) -> None:
    lines = (DATA / "maud_gtial1_first3.F1B").read_bytes().split(b"\r")
    second_data = [i for i, line in enumerate(lines) if line.startswith(b" 400 ")][1] + 1
    lines[second_data] = lines[second_data][:-10]  # the numor's first line loses its last cell
    path = tmp_path / "cut.F1B"
    path.write_bytes(b"\r".join(lines))
    assert [p.metadata["numor"] for p in read_all_patterns(path)] == ["45791", "45793"]
    expected = r"numor 45792 .*: 399 counts where its header states 400 cells"
    with pytest.raises(PatternFileError, match=expected):
        read_pattern(path, scan=1)


@pytest.mark.parametrize(
    ("name", "header", "match"),
    [
        # APS USAXS desmeared data (GSAS-II's small-angle tutorials): Q with no wavelength stated.
        ("ludox.dat", ["DSM_Qvec\tDSM_Int\tDSM_Error"], r"the x axis is Q \('DSM_Qvec'\).*wavelength"),
        # xPDFsuite's G(r), SPEC-style "#L" labels.
        ("ni.dat", ["#### start data", "#S 1", "#L r(A)  G(A^-2)"], r"'r\(A\)': a pair distribution"),
        ("ni.gr", ["# any header"], r"'a .gr file': a pair distribution function G\(r\)"),
        ("sq.fq", [], r"'a .fq file': .*total-scattering structure function"),
    ],
)
def test_small_angle_and_total_scattering_files_are_not_read_as_two_theta(
    tmp_path: Path, name: str, header: list[str], match: str
) -> None:
    rows = [f"{0.01 * (i + 1):.4f}\t{100.0 / (i + 1):.3f}\t{1.0:.2f}" for i in range(60)]
    path = tmp_path / name
    path.write_text("\n".join([*header, *rows]) + "\n", encoding="utf-8")
    with pytest.raises(PatternFileError, match=match):
        read_pattern(path)


def test_gsas_bank_with_fewer_points_than_stated_is_read_with_a_note(tmp_path: Path) -> None:
    """GSAS-II's PrSrMnO.gda tutorial file holds 2395 of the 2415 points its BANK line states; GSAS-II reads
    them, each at the angle its place gives."""
    counts = [20 + (i * 7) % 13 for i in range(25)]
    std = "\n".join("".join(f" 3{c:6d}" for c in counts[k : k + 10]) for k in range(0, 25, 10))
    path = tmp_path / "short.gda"
    path.write_text(f"short  6.00 0.05\nBANK 1 30 3 CONST 600 5 0 0\n{std}\n", encoding="ascii")
    p = read_pattern(path)
    np.testing.assert_allclose(p.two_theta, 6.0 + 0.05 * np.arange(25), rtol=0, atol=1e-12)
    np.testing.assert_array_equal(p.intensity, counts)
    assert p.metadata["note"] == "the BANK line states 30 points; the bank holds 25, all read"


def _numbers_after(path: Path, line_index: int) -> list[float]:
    """Every number after line ``line_index`` (0-based) up to the first line that is not numbers."""
    values: list[float] = []
    for line in path.read_text(encoding="ascii").splitlines()[line_index + 1 :]:
        try:
            values.extend(float(word) for word in line.split())
        except ValueError:
            break
    return values


def test_ill_d1a_counts_and_uncertainties_under_a_start_step_stop_line() -> None:
    path = DATA / "xylib_D1A5.dat"
    values = _numbers_after(path, 4)  # line 5 is "-10.0000 0.1000 157.9000"
    assert len(values) == 2 * 1680
    p = read_pattern(path)
    # The 101 points from -10 to 0° lie across the beam and are left out.
    np.testing.assert_allclose(p.two_theta, -10.0 + 0.1 * np.arange(101, 1680), rtol=0, atol=1e-9)
    np.testing.assert_array_equal(p.intensity, values[101:1680])
    np.testing.assert_array_equal(p.sigma, values[1680 + 101 :])
    assert p.metadata["note"] == "the 101 points at 2θ <= 0° (across the beam) left out"


def test_psi_dmc_counts_uncertainties_and_the_lambda_line() -> None:
    path = DATA / "xylib_PSI_DMC.dat"
    values = _numbers_after(path, 2)  # line 3: "2.948 0.050 162.898 18000000., sample=..."
    assert len(values) == 2 * 3200
    p = read_pattern(path)
    np.testing.assert_allclose(p.two_theta, 2.948 + 0.05 * np.arange(3200), rtol=0, atol=1e-9)
    np.testing.assert_array_equal(p.intensity, values[:3200])
    np.testing.assert_array_equal(p.sigma, values[3200:])
    assert p.wavelength == 1.494


def test_start_step_stop_with_twice_the_counts_needs_uncertainties(tmp_path: Path) -> None:
    """Twice as many numbers as the grid has points are counts and uncertainties only where the second half
    can be uncertainties (none negative); otherwise the layout is not this one."""
    counts = [100 + (i % 9) for i in range(50)]
    path = tmp_path / "twice.dat"
    for second, reads in ((counts, True), ([-c for c in counts], False)):
        rows = [" ".join(f"{v:d}" for v in (counts + second)[k : k + 10]) for k in range(0, 100, 10)]
        path.write_text("\n".join(["title", "10.0 0.1 14.9", *rows]) + "\n", encoding="ascii")
        if reads:
            p = read_pattern(path)
            assert len(p) == 50 and list(p.sigma) == second
        else:
            with pytest.raises(PatternFileError):
                read_pattern(path)


def _peaks(two_theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    profile = (
        100 + 900 * np.exp(-(((two_theta - 30) / 0.1) ** 2)) + 500 * np.exp(-(((two_theta - 45) / 0.15) ** 2))
    )
    return rng.poisson(profile).astype(np.float64)


def _rows(path: Path, rows: list[list[float]]) -> Path:
    path.write_text(
        "\n\n" + "\n".join(" ".join(f"{v:g}" for v in row) for row in rows) + "\n", encoding="ascii"
    )
    return path


@pytest.mark.parametrize(("step", "k"), [(0.02, 10), (0.01, 4), (0.02, 3)])
def test_an_angle_and_k_counts_a_row_continue_from_row_to_row(tmp_path: Path, step: float, k: int) -> None:
    """Rigaku's .txt export (GSAS-II reads it so): each row an angle and ten counts at consecutive steps."""
    two_theta = np.round(10 + step * np.arange(3000), 6)
    counts = _peaks(two_theta, np.random.default_rng(k))
    rows = [[two_theta[i], *counts[i : i + k]] for i in range(0, 3000 - 3000 % k, k)]
    p = read_pattern(_rows(tmp_path / "rigaku.txt", rows))
    n = 3000 - 3000 % k
    np.testing.assert_allclose(p.two_theta, two_theta[:n], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(p.intensity, counts[:n])
    assert f"an angle and {k} counts in steps of {step:g}°" in p.metadata["note"]


@pytest.mark.parametrize("kind", ["repeated scans", "shifted scans", "obs sigma background calc"])
def test_columns_at_one_angle_are_not_counts_along_the_row(tmp_path: Path, kind: str) -> None:
    """Columns that all stand at their row's angle (repeated scans of a sample, a series whose peaks move, an
    observed pattern with its σ, background and fit) keep the first two columns as 2θ and intensity."""
    rng = np.random.default_rng(7)
    two_theta = np.round(10 + 0.02 * np.arange(3000), 6)
    if kind == "repeated scans":
        columns = [_peaks(two_theta, rng) for _ in range(4)]
    elif kind == "shifted scans":
        columns = [_peaks(two_theta + 0.2 * j, rng) for j in range(4)]
    else:
        observed = _peaks(two_theta, rng)
        columns = [observed, np.sqrt(observed), np.full(3000, 100.0), observed * 1.01]
    p = read_pattern(
        _rows(tmp_path / "series.txt", [[t, *c] for t, *c in zip(two_theta, *columns, strict=True)])
    )
    np.testing.assert_allclose(p.two_theta, two_theta, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(p.intensity, columns[0])


@pytest.mark.parametrize(
    "labels",
    [
        # RRUFF's .dif files: the reflections of the refined structure.
        "   2-THETA      INTENSITY    D-SPACING   H   K   L   Multiplicity",
        "Pos. [°2Th.] d-spacing hkl Rel. Int.",
        "2-Theta Intensity (hkl)",
        "2theta,h,k,l,I",
    ],
)
def test_a_list_of_reflections_is_refused(tmp_path: Path, labels: str) -> None:
    rows = [f"{10 + 1.7 * i:.2f} {i % 3} {i % 2} {i % 4} {100 - i}" for i in range(30)]
    if "," in labels:
        rows = [row.replace(" ", ",") for row in rows]
    path = tmp_path / "peaks.dif"
    path.write_text("\n".join(["QUARTZ", labels, *rows]) + "\n", encoding="utf-8")
    with pytest.raises(PatternFileError, match=r"list reflections \(Miller indices\), a peak list"):
        read_pattern(path)


def test_words_like_miller_letters_are_not_a_reflection_list(tmp_path: Path) -> None:
    rows = [f"{10 + 0.02 * i:.2f} {100 + i % 7}" for i in range(50)]
    path = tmp_path / "scan.txt"
    path.write_text("\n".join(["# holder k-l mount, hklscan off", "Angle Intensity", *rows]) + "\n")
    assert len(read_pattern(path)) == 50


def test_a_neutron_pattern_converted_to_text_keeps_its_probe(tmp_path: Path) -> None:
    """xrdsynth convert writes "probe: neutron" and no Kα wording; reading the text back gives the probe, so
    that classify still warns that the classifier learned X-ray patterns."""
    p = read_pattern(DATA / "maud_gtial1_first3.F1B")
    out = tmp_path / "d1b.xy"
    write_pattern(p, out)
    text = out.read_text(encoding="utf-8")
    assert "# wavelength = 2.52 Å (one wavelength)" in text and "# probe: neutron" in text
    back = read_pattern(out)
    assert back.metadata["probe"] == "neutron" and back.wavelength == 2.52
    np.testing.assert_array_equal(back.intensity, p.intensity)


def test_labels_of_several_words_two_spaces_apart(tmp_path: Path) -> None:
    """SPEC's "#L" line separates its labels by two spaces ("Two Theta  Epoch  Seconds  Detector"): the 2θ
    column and the detector's counts are read, not the time stamps after 2θ."""
    rows = [f"{10 + 2 * i:.1f} {1000 + i} 1 {100 + i % 7}" for i in range(41)]
    path = tmp_path / "spec_scan.txt"
    path.write_text(
        "\n".join(["#S 1  ascan  tth 10 90 40 1", "#L Two Theta  Epoch  Seconds  Detector", *rows])
    )
    p = read_pattern(path)
    np.testing.assert_array_equal(p.intensity, [100 + i % 7 for i in range(41)])
    assert p.metadata["columns"] == "2θ/x from 'Two Theta', intensity from 'Detector'"


def test_a_wavelength_given_to_the_reader_where_the_file_states_none(tmp_path: Path) -> None:
    q = np.linspace(1.0, 5.0, 200)
    path = tmp_path / "q.xy"
    path.write_text("# q_A^-1 I\n" + "".join(f"{v:.17g} {100 + i % 5}\n" for i, v in enumerate(q)))
    with pytest.raises(PatternFileError, match=r"read_pattern\(\.\.\., wavelength=\.\.\.\)"):
        read_pattern(path)
    p = read_pattern(path, wavelength=1.5406)
    np.testing.assert_allclose(p.two_theta, 2 * np.degrees(np.arcsin(q * 1.5406 / (4 * np.pi))), rtol=1e-12)
    assert p.wavelength == 1.5406
    assert p.metadata["wavelength_from"] == "given to the reader (the file states none)"
    # A 2θ file without a wavelength takes it as well; one that states its own keeps it.
    rows = "".join(f"{10 + 0.02 * i:.2f} {100 + i % 5}\n" for i in range(50))
    (tmp_path / "plain.xy").write_text(rows)
    (tmp_path / "stated.xy").write_text("# wavelength = 0.7093\n" + rows)
    assert read_pattern(tmp_path / "plain.xy", wavelength=1.5406).wavelength == 1.5406
    assert read_all_patterns(tmp_path / "stated.xy", wavelength=1.5406)[0].wavelength == 0.7093
    assert read_pattern(DATA / "maud_gtial1_first3.F1B", wavelength=1.5406).wavelength == 2.52
    # The same Q file as a member of an archive is converted with it too.
    with zipfile.ZipFile(tmp_path / "q.zip", "w") as archive:
        archive.write(path, "q.xy")
    with pytest.raises(PatternFileError, match="wavelength"):
        read_pattern(tmp_path / "q.zip")
    zipped = read_pattern(tmp_path / "q.zip", wavelength=1.5406)
    np.testing.assert_allclose(zipped.two_theta, p.two_theta, rtol=1e-12)
    assert zipped.metadata["wavelength_from"] == "given to the reader (the file states none)"
    for bad in (-1.0, 0.0, float("nan"), True, "1.54", 50.0):
        with pytest.raises(ValueError, match="wavelength must be in Å"):
            read_pattern(path, wavelength=bad)  # type: ignore[arg-type]


def test_irena_usaxs_export_is_q_converted_with_its_wavelength(tmp_path: Path) -> None:
    """Irena's USAXS exports (GSAS-II's small-angle tutorials) carry no column labels, but their header names
    the Q wave and states the wavelength: Q in 1/Å, converted."""
    q = np.geomspace(0.002, 0.8, 90)
    header = [
        "# SpecComment=GC-II-A",
        "# Wavelength=1.1265",
        "# IntensityWaveName=SMR_Int",
        "# QWavename=SMR_Qvec",
    ]
    rows = [f"{v:.6g} {1e4 * v**-2:.6g} {1.0:.3g}" for v in q]
    path = tmp_path / "GC calibrated data.txt"
    path.write_text("\n".join([*header, *rows]) + "\n", encoding="ascii")
    p = read_pattern(path)
    expected = 2 * np.degrees(np.arcsin(np.array([float(f"{v:.6g}") for v in q]) * 1.1265 / (4 * np.pi)))
    np.testing.assert_allclose(p.two_theta, expected, rtol=1e-12)
    assert p.wavelength == 1.1265 and "Q in 1/Å" in p.metadata["x_axis"]
