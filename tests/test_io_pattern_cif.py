"""Powder CIF (pdCIF) reading: a real COD file and small files written here to the dictionary's layouts
(2θ columns or stated ranges, Kα doublets, standard uncertainties, several blocks, x axes that are not 2θ)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xrdsynth.io import PatternFileError, read_all_patterns, read_pattern

DATA = Path(__file__).parent / "data" / "patterns"
EXAMPLES = Path(__file__).parents[1] / "src" / "xrdsynth" / "examples"


def _write(tmp_path: Path, text: str, name: str = "pattern.cif") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_cod_neutron_pdcif_with_a_stated_range() -> None:
    p = read_pattern(DATA / "cod_1517474_pdcif.cif")
    assert p.format == "cif"
    # The file states 3296 points from 1.518 to 166.268 (processed, zero-corrected) in steps of 0.05.
    assert p.two_theta.shape == (3296,)
    assert p.two_theta[0] == pytest.approx(1.518) and p.two_theta[-1] == pytest.approx(166.268)
    assert np.allclose(np.diff(p.two_theta), 0.05)
    assert p.wavelength == pytest.approx(2.0785) and p.wavelength2 is None
    # The first rows: 5540(160), 4570(140), 4140(130); the last 797(37) (in an excluded region: weight ".").
    assert p.intensity[:3].tolist() == [5540.0, 4570.0, 4140.0] and p.intensity[-1] == 797.0
    assert p.sigma is not None and p.sigma[:3].tolist() == [160.0, 140.0, 130.0] and p.sigma[-1] == 37.0
    assert p.metadata["probe"] == "neutron"
    assert p.metadata["intensity_column"] == "_pd_meas_intensity_total"


XRAY = """data_scan
_pd_block_id 'scan|x-ray'
_diffrn_radiation_probe x-ray
_diffrn_radiation_type 'Cu K\\a'
loop_
_diffrn_radiation_wavelength_id
_diffrn_radiation_wavelength
_diffrn_radiation_wavelength_wt
1 1.540598 1.0
2 1.544426 0.5
loop_
_pd_meas_2theta_scan
_pd_meas_counts_total
10.00 100(10)
10.02 121(11)
10.04 ?
10.06 12.5(4)
10.08 1.0e2(3)
"""


def test_xray_columns_doublet_and_uncertainties(tmp_path: Path) -> None:
    p = read_pattern(_write(tmp_path, XRAY))
    assert p.format == "cif"
    assert p.two_theta.tolist() == [10.0, 10.02, 10.06, 10.08]  # the '?' point left out
    assert p.intensity.tolist() == [100.0, 121.0, 12.5, 100.0]
    # su in units of the last digit written: 12.5(4) is 0.4, 1.0e2(3) is 30.
    assert p.sigma is not None and np.allclose(p.sigma, [10.0, 11.0, 0.4, 30.0])
    assert p.wavelength == pytest.approx(1.540598) and p.wavelength2 == pytest.approx(1.544426)
    assert p.ratio == pytest.approx(0.5)
    assert p.metadata["points_without_value"] == "1"
    assert p.metadata["radiation"] == "Cu K\\a"


def test_corrected_angles_first_and_su_columns(tmp_path: Path) -> None:
    # A refinement program's export: measured and zero-corrected 2θ, and a DDLm-style su column.
    text = (
        "data_fit\n_diffrn_radiation_wavelength 1.5406\nloop_\n_pd_meas_2theta_scan\n"
        "_pd_proc_2theta_corrected\n_pd_proc_intensity_total\n_pd_proc_intensity_total_su\n"
        "20.00 19.98 400 20\n20.02 20.00 900 30\n20.04 20.02 100 10\n"
    )
    p = read_pattern(_write(tmp_path, text))
    assert np.allclose(p.two_theta, [19.98, 20.0, 20.02])
    assert p.intensity.tolist() == [400.0, 900.0, 100.0]
    assert p.sigma is not None and p.sigma.tolist() == [20.0, 30.0, 10.0]


def test_several_blocks_each_pattern_a_range(tmp_path: Path) -> None:
    phase = "data_phase\n_cell_length_a 5.0\n_cell_length_b 5.0\n_cell_length_c 5.0\n"
    second = XRAY.replace("data_scan", "data_scan2").replace("10.0", "20.0")
    path = _write(tmp_path, phase + XRAY + second)
    patterns = read_all_patterns(path)
    assert [q.metadata["block"] for q in patterns] == ["data_scan", "data_scan2"]
    assert [q.metadata["range"] for q in patterns] == ["1", "2"]
    assert patterns[1].two_theta[0] == pytest.approx(20.0)
    assert read_pattern(path).metadata["block"] == "data_scan"


def _ranged(low: float, high: float, step: float, counts: list[float], extra: str = "") -> str:
    rows = "\n".join(f"{c:g}" for c in counts)
    return (
        f"data_r\n_diffrn_radiation_wavelength 1.5406\n_pd_meas_2theta_range_min {low}\n"
        f"_pd_meas_2theta_range_max {high}\n_pd_meas_2theta_range_inc {step}\n{extra}"
        f"loop_\n_pd_meas_intensity_total\n{rows}\n"
    )


def test_a_stated_range_must_match_the_points(tmp_path: Path) -> None:
    p = read_pattern(_write(tmp_path, _ranged(5.0, 5.3, 0.1, [1, 2, 3, 4])))
    assert np.allclose(p.two_theta, [5.0, 5.1, 5.2, 5.3]) and p.sigma is None
    with pytest.raises(PatternFileError, match=r"3 points, but _pd_meas_2theta_range_min/max/inc .*4 points"):
        read_pattern(_write(tmp_path, _ranged(5.0, 5.3, 0.1, [1, 2, 3])))


def test_d_spacings_are_converted_with_the_stated_wavelength(tmp_path: Path) -> None:
    text = "data_d\n_diffrn_radiation_wavelength 1.5406\nloop_\n_pd_proc_d_spacing\n_pd_proc_intensity_net\n"
    text += "3.0 10\n2.0 20\n1.5 30\n"
    p = read_pattern(_write(tmp_path, text))
    expected = np.degrees(2 * np.arcsin(1.5406 / (2 * np.array([3.0, 2.0, 1.5]))))
    assert np.allclose(p.two_theta, expected) and p.intensity.tolist() == [10.0, 20.0, 30.0]
    assert p.metadata["x_axis"] == "d in Å"
    no_wavelength = text.replace("_diffrn_radiation_wavelength 1.5406\n", "")
    with pytest.raises(PatternFileError, match="states no wavelength"):
        read_pattern(_write(tmp_path, no_wavelength))


def test_what_is_not_a_measured_2theta_pattern_is_refused(tmp_path: Path) -> None:
    tof = "data_t\nloop_\n_pd_meas_time_of_flight\n_pd_meas_counts_total\n1000 5\n1010 6\n"
    with pytest.raises(PatternFileError, match="time of flight"):
        read_pattern(_write(tmp_path, tof))
    calculated = "data_c\n_pd_block_id x\nloop_\n_pd_proc_2theta_corrected\n_pd_calc_intensity_total\n"
    calculated += "1 2\n3 4\n"
    with pytest.raises(PatternFileError, match="calculated intensities only"):
        read_pattern(_write(tmp_path, calculated))
    with pytest.raises(PatternFileError, match=r"Crystal\.from_cif"):
        read_pattern(EXAMPLES / "quartz.cif")
    broken = "data_b\n_pd_block_id x\nloop_\n_pd_meas_2theta_scan\n_pd_meas_counts_total\n10 'unterminated\n"
    with pytest.raises(PatternFileError, match="not a readable CIF"):
        read_pattern(_write(tmp_path, broken))
    words = "data_w\n_pd_block_id x\nloop_\n_pd_meas_2theta_scan\n_pd_meas_counts_total\n10 5\n11 many\n"
    with pytest.raises(PatternFileError, match="point 2 is not a number"):
        read_pattern(_write(tmp_path, words))


def test_format_can_be_forced_and_the_pattern_converts(tmp_path: Path) -> None:
    path = _write(tmp_path, XRAY, name="scan.txt")
    assert read_pattern(path, format="cif").intensity.shape == (4,)
    from xrdsynth.cli import main

    assert main(["convert", str(path), str(tmp_path / "scan.xy")]) == 0
    back = read_pattern(tmp_path / "scan.xy")
    assert np.allclose(back.two_theta, [10.0, 10.02, 10.06, 10.08])


def test_a_pattern_cif_read_as_a_structure_points_to_read_pattern(tmp_path: Path) -> None:
    from xrdsynth import CIFError, Crystal

    with pytest.raises(CIFError, match=r"powder pattern: read it with xrdsynth\.io\.read_pattern"):
        Crystal.from_cif(_write(tmp_path, XRAY))
    # A file with both (a Rietveld result) gives its structure to from_cif and its pattern to read_pattern.
    assert Crystal.from_cif(DATA / "cod_1517474_pdcif.cif").space_group == 148
