"""The ``xrdsynth`` command line: every command once with tiny settings, its outputs read back by independent
readers (gemmi, pymatgen, matplotlib, ShardDataset, read_pattern), and one-line errors for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import xrdsynth as xs
from xrdsynth import examples
from xrdsynth.cli import COMMANDS, main
from xrdsynth.data import ShardDataset
from xrdsynth.models import Classifier, InputSpec, load_pretrained, save_pretrained

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
QUARTZ = str(examples.cif_path("quartz"))
CDS = str(examples.measured_path("CdS"))
GRID = ["--two-theta", "10", "80", "500"]


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    """main(argv) in this process: (exit status, stdout, stderr)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained classifier on a 500-point grid, saved as a model folder (no shipped model is needed)."""
    classifier = Classifier.from_architecture("resnet10", InputSpec(10.0, 70.0, 500), width=8)
    return save_pretrained(classifier, tmp_path_factory.mktemp("model") / "m")


# -------------------------------------------------------------------------------------------- help
def test_python_dash_m_help_lists_every_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "xrdsynth", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: xrdsynth")
    for command in COMMANDS:
        assert command in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(capsys, command) -> None:
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    assert out.startswith(f"usage: xrdsynth {command}")


def test_version(capsys) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert out.strip() == f"xrdsynth {xs.__version__}"


# ---------------------------------------------------------------------------------------- simulate
def test_simulate_prints_the_strongest_reflections_of_peaks(capsys) -> None:
    code, out, _ = run(capsys, "simulate", QUARTZ, *GRID, "--top", "5")
    assert code == 0
    assert "O6 Si3" in out and "154 P3_221" in out
    assert " ".join(out.splitlines()[2].split()) == "2θ (°) d (Å) h k l h k i l mult I"
    lines = out.splitlines()[3:]
    assert len(lines) == 5
    peaks = xs.PowderSimulator(two_theta=(10.0, 80.0, 500), crystallite_size_nm=50.0).peaks(
        xs.Crystal.from_cif(QUARTZ)
    )
    order = np.argsort(-peaks.intensity)[:5]
    # Columns 2θ, d, hkl (every family), hkil, mult, I; labels may hold spaces, so split at two spaces.
    rows = [line.strip().split("  ") for line in lines]
    rows = [[cell.strip() for cell in row if cell.strip()] for row in rows]
    np.testing.assert_allclose([float(r[0]) for r in rows], peaks.two_theta[order], atol=1e-3)
    np.testing.assert_allclose([float(r[1]) for r in rows], peaks.d[order], atol=1e-4)
    assert [r[2] for r in rows] == [peaks.labels()[k] for k in order]
    assert [r[3] for r in rows] == [peaks.labels(bravais_miller=True)[k] for k in order]
    assert rows[0][2] == "0 1 1, 1 0 1"  # two forms in the strongest peak
    assert [int(r[4]) for r in rows] == peaks.multiplicity[order].tolist()
    assert float(rows[0][5]) == 100.0


def test_simulate_labels_calcite_as_tables_do_and_names_the_k_alpha2_line(capsys, tmp_path) -> None:
    calcite = Path(__file__).parent / "data" / "cifs" / "amcsd_0000098.cif"
    code, out, _ = run(capsys, "simulate", calcite, "--top", 1)
    assert code == 0 and out.splitlines()[3].split()[2:8] == ["1", "0", "4", "1", "0", "-1"]
    code, out, _ = run(capsys, "simulate", calcite, "--top", 2, "--wavelength", "CuKa")
    assert code == 0 and out.splitlines()[2].endswith("line")
    assert [line.split()[-1] for line in out.splitlines()[3:]] == ["Kα1", "Kα2"]


def test_simulate_writes_a_pattern_file_and_a_png(capsys, tmp_path) -> None:
    import matplotlib.image

    xy, png = tmp_path / "quartz.xy", tmp_path / "plots" / "quartz.png"
    code, out, err = run(capsys, "simulate", QUARTZ, *GRID, "--out", xy, "--plot", png)
    assert code == 0, err
    assert out == ""  # results go to the files, status lines to stderr

    # Read back with the library's measured-pattern reader: grid, wavelength from the '#' header, maximum 1.
    pattern = xs.io.read_pattern(xy)
    np.testing.assert_allclose(pattern.two_theta, np.linspace(10.0, 80.0, 500), atol=1e-6)
    assert pattern.wavelength == pytest.approx(1.540593)
    assert pattern.intensity.max() == pytest.approx(1.0)
    header = pattern.metadata["header"]
    for expected in ("O6 Si3", "154 P3_221", "CuKa1", f"xrdsynth {xs.__version__}", "50 nm", QUARTZ):
        assert expected in header
    # Its strongest point lies on the strongest stick of sim.peaks (within one grid step).
    peaks = xs.PowderSimulator(two_theta=(10.0, 80.0, 500), crystallite_size_nm=50.0).peaks(
        xs.Crystal.from_cif(QUARTZ)
    )
    step = 70.0 / 499
    strongest = peaks.two_theta[np.argmax(peaks.intensity)]
    assert abs(pattern.two_theta[np.argmax(pattern.intensity)] - strongest) <= step

    assert png.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(png)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 200 and image.shape[2] in (3, 4)


def test_simulate_is_deterministic_and_states_a_doublet(capsys, tmp_path) -> None:
    first, second = tmp_path / "a.xy", tmp_path / "b.xy"
    for path in (first, second):
        assert run(capsys, "simulate", QUARTZ, *GRID, "--wavelength", "CuKa", "--out", path)[0] == 0
    assert first.read_bytes() == second.read_bytes()
    pattern = xs.io.read_pattern(first)
    assert (pattern.wavelength, pattern.wavelength2, pattern.ratio) == (1.540593, 1.544414, 0.5)


def test_simulate_takes_a_wavelength_in_angstrom(capsys, tmp_path) -> None:
    xy = tmp_path / "mo.xy"
    code, _, _ = run(
        capsys, "simulate", QUARTZ, "--two-theta", 5, 40, 300, "--wavelength", 0.7093, "--out", xy
    )
    assert code == 0
    assert xs.io.read_pattern(xy).wavelength == 0.7093
    code, out, _ = run(capsys, "simulate", QUARTZ, "--wavelength", 0.7093, "--top", 1)
    assert code == 0
    peaks = xs.PowderSimulator(wavelength=0.7093, crystallite_size_nm=50.0).peaks(xs.Crystal.from_cif(QUARTZ))
    assert float(out.splitlines()[3].split()[0]) == pytest.approx(
        peaks.two_theta[peaks.intensity.argmax()], abs=1e-3
    )


def test_simulate_out_dash_writes_to_stdout(capsys) -> None:
    code, out, _ = run(capsys, "simulate", QUARTZ, *GRID, "--out", "-")
    assert code == 0
    assert out.startswith("# xrdsynth")
    assert len([line for line in out.splitlines() if not line.startswith("#")]) == 500


# Forsterite in Pbnm, a non-default setting of Pnma (62) common in mineral databases.
FORSTERITE_PBNM = """data_forsterite
_cell_length_a 4.7535
_cell_length_b 10.1943
_cell_length_c 5.9807
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_symmetry_space_group_name_H-M 'P b n m'
loop_
_atom_site_label
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
Mg1 0 0 0
Mg2 0.99150 0.27740 0.25
Si 0.42620 0.09400 0.25
O1 0.76570 0.09130 0.25
O2 0.22150 0.44740 0.25
O3 0.27770 0.16280 0.03310
"""


def test_simulate_names_a_non_default_setting(capsys, tmp_path) -> None:
    cif = tmp_path / "forsterite.cif"
    cif.write_text(FORSTERITE_PBNM)
    code, out, _ = run(capsys, "simulate", cif, "--top", 1)
    assert code == 0
    assert "space group 62 Pnma (orthorhombic), in the file's setting P b n m (hkl in the file's axes)" in out
    assert run(capsys, "simulate", cif, "--out", tmp_path / "f.xy")[0] == 0
    assert "setting P b n m" in xs.io.read_pattern(tmp_path / "f.xy").metadata["header"]


def test_simulate_warns_about_other_blocks_and_reads_the_one_named(capsys, tmp_path) -> None:
    cif = tmp_path / "two.cif"
    cif.write_text(examples.cif_path("rutile").read_text() + "\n" + Path(QUARTZ).read_text())
    code, out, err = run(capsys, "simulate", cif, "--top", 1)
    assert code == 0 and "136 P4_2/mnm" in out
    assert err.startswith("xrdsynth: warning:") and len(err.splitlines()) == 1
    assert "holds 2 structures" in err and "'quartz'" in err
    code, out, err = run(capsys, "simulate", cif, "--block", "quartz", "--top", 1)
    assert code == 0 and "154 P3_221" in out and err == ""


def test_simulate_refuses_a_range_without_reflections(capsys, tmp_path) -> None:
    for extra in ([], ["--out", tmp_path / "x.xy"]):
        code, out, err = run(capsys, "simulate", QUARTZ, "--wavelength", 15, *extra)
        assert code == 1 and out == ""
        assert "no reflection falls in 5–90° 2θ at 15 Å" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x.xy").exists()


def test_plot_without_matplotlib_fails_before_any_work(capsys, monkeypatch, tmp_path, tiny_model) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    xy = tmp_path / "q.xy"
    code, out, err = run(capsys, "simulate", QUARTZ, "--out", xy, "--plot", tmp_path / "q.png")
    assert code == 1 and out == "" and "--plot needs matplotlib" in err
    assert not xy.exists()
    code, out, err = run(capsys, "classify", CDS, "--wavelength", "CuKa1", "--model", tiny_model,
                         "--plot", tmp_path / "c.png")  # fmt: skip
    assert code == 1 and out == "" and "--plot needs matplotlib" in err


# ------------------------------------------------------------------------------------------ sample
# pymatgen notes that it rounds coordinates such as 0.3333333333333333 to 1/3: expected, not a problem.
@pytest.mark.filterwarnings("ignore:Issues encountered while parsing CIF")
@pytest.mark.parametrize("group", [62, 186])
def test_sample_writes_cifs_that_gemmi_and_pymatgen_read_with_the_group(capsys, tmp_path, group) -> None:
    gemmi = pytest.importorskip("gemmi")
    pytest.importorskip("pymatgen")
    from pymatgen.core import Structure
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    code, out, _ = run(capsys, "sample", "--space-group", group, "-n", 2, "--out", tmp_path, "--seed", 3)
    assert code == 0
    files = sorted(tmp_path.glob("*.cif"))
    assert [f.name for f in files] == [f"sg{group:03d}_0000.cif", f"sg{group:03d}_0001.cif"]
    assert len(out.splitlines()) == 2
    for path in files:
        block = gemmi.cif.read(str(path)).sole_block()
        assert block.find_value("_space_group_IT_number") == str(group)
        small = gemmi.read_small_structure(str(path))
        assert small.spacegroup_number == group
        crystal = xs.Crystal.from_cif(path)
        assert len(small.get_all_unit_cell_sites()) == crystal.num_atoms
        structure = Structure.from_file(path)
        assert SpacegroupAnalyzer(structure, symprec=1e-3).get_space_group_number() == group


def test_space_groups_by_symbol_on_the_command_line(capsys, tmp_path) -> None:
    code, _, err = run(capsys, "sample", "--space-group", "Pnma", "-n", 1, "--out", tmp_path / "a")
    assert code == 0 and "62 Pnma" in err
    assert [f.name for f in (tmp_path / "a").iterdir()] == ["sg062_0000.cif"]
    assert run(capsys, "sample", "--space-group", "P 1 21/c 1", "--out", tmp_path / "b")[0] == 0
    assert (tmp_path / "b" / "sg014_0000.cif").exists()
    code, _, err = run(capsys, "sample", "--space-group", "Pbnm", "--out", tmp_path / "c")
    assert code == 2 and "space group 62 in another setting" in err and len(err.splitlines()) == 1
    code, _, err = run(capsys, "sample", "--space-group", "Pmna2", "--out", tmp_path / "c")
    assert code == 2 and "did you mean Pmna (53)" in err
    from xrdsynth.cli import _space_groups

    assert _space_groups("1-3, Fm-3m,P-1") == [1, 2, 3, 225]


def test_sample_is_reproducible_from_the_seed(capsys, tmp_path) -> None:
    for folder in ("a", "b"):
        assert run(capsys, "sample", "--space-group", 14, "-n", 2, "--out", tmp_path / folder)[0] == 0
    for name in ("sg014_0000.cif", "sg014_0001.cif"):
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text()


# ---------------------------------------------------------------------------------------- generate
GENERATE = ["--batch-size", "4", "--batches-per-shard", "1", "--two-theta", "10", "70", "200",
            "--wavelength", "1.5406", "--space-groups", "1-2,62", "--no-progress"]  # fmt: skip


def test_generate_writes_shards_and_a_second_call_resumes(capsys, tmp_path) -> None:
    folder = tmp_path / "shards"
    code, out, _ = run(capsys, "generate", "-n", 8, "--out", folder, *GENERATE)
    assert code == 0
    assert "8 patterns of 200 points" in out
    first = ShardDataset(folder, verify=True)
    assert len(first) == 8
    assert first.two_theta is not None and len(first.two_theta) == 200
    patterns = np.stack([first[i][0].numpy() for i in range(8)])
    labels = {int(first[i][1]["space_group"]) + 1 for i in range(8)}
    assert labels <= {1, 2, 62}

    # More patterns into the same folder: the first 8 stay, and the folder equals a single run of 16.
    assert run(capsys, "generate", "-n", 16, "--out", folder, *GENERATE)[0] == 0
    assert run(capsys, "generate", "-n", 16, "--out", tmp_path / "single", *GENERATE)[0] == 0
    resumed, single = ShardDataset(folder, verify=True), ShardDataset(tmp_path / "single")
    assert len(resumed) == 16
    np.testing.assert_array_equal(np.stack([resumed[i][0].numpy() for i in range(8)]), patterns)
    for i in range(16):
        np.testing.assert_array_equal(resumed[i][0].numpy(), single[i][0].numpy())
    # A rerun of a finished folder writes nothing and succeeds.
    assert run(capsys, "generate", "-n", 16, "--out", folder, *GENERATE)[0] == 0
    assert len(ShardDataset(folder)) == 16


def test_generate_progress_bar_is_labelled_generate(capsys, tmp_path) -> None:
    options = [o for o in GENERATE if o != "--no-progress"]
    code, _, err = run(capsys, "generate", "-n", 4, "--out", tmp_path, *options)
    assert code == 0
    assert "generate:" in err and "write_shards" not in err


def test_generate_rounds_up_to_whole_batches(capsys, tmp_path) -> None:
    code, _, err = run(capsys, "generate", "-n", 5, "--out", tmp_path, *GENERATE)
    assert code == 0
    assert "rounded up to 2 batches of 4" in err
    assert len(ShardDataset(tmp_path)) == 8


def test_generate_refuses_other_settings_for_an_existing_folder(capsys, tmp_path) -> None:
    assert run(capsys, "generate", "-n", 4, "--out", tmp_path, *GENERATE)[0] == 0
    code, _, err = run(capsys, "generate", "-n", 4, "--out", tmp_path, *GENERATE, "--seed", 1)
    assert code == 1
    assert err.startswith("xrdsynth: error: generate:") and len(err.splitlines()) == 1


# ------------------------------------------------------------------------------------------- train
def test_train_writes_a_model(capsys, tmp_path) -> None:
    out = tmp_path / "run"
    code, _, err = run(
        capsys, "train", "--out", out, "--steps", 2, "--batch-size", 4, "--two-theta", 10, 70, 300,
        "--architecture-kwargs", '{"width": 8, "stem_stride": 4}', "--eval-patterns", 4,
        "--warmup-steps", 1, "--no-progress",
    )  # fmt: skip
    assert code == 0, err
    classifier = load_pretrained(out / "model")
    assert classifier.card["steps"] == 2
    assert classifier.spec.num_points == 300
    assert str(out / "model") in err


def test_train_refuses_to_resume_with_other_settings_in_one_line(capsys, tmp_path) -> None:
    out = tmp_path / "run"
    options = ["--out", out, "--steps", 1, "--batch-size", 4, "--two-theta", 10, 70, 300,
               "--eval-patterns", 4, "--warmup-steps", 1, "--no-progress"]  # fmt: skip
    kwargs = ["--architecture-kwargs", '{"width": 8, "stem_stride": 4}']
    assert run(capsys, "train", *options, *kwargs)[0] == 0
    code, _, err = run(capsys, "train", *options, "--architecture-kwargs", '{"width": 16, "stem_stride": 4}')
    assert code == 1
    assert len(err.splitlines()) == 1
    assert err.startswith("xrdsynth: error: train:") and "architecture_kwargs: stored" in err
    code, _, err = run(capsys, "train", *options, *kwargs, "--lr", 0.01)
    assert code == 1 and "lr: stored 0.002, now 0.01" in err


# ---------------------------------------------------------------------------------------- classify
def test_classify_prints_the_top_groups_of_each_file(capsys, tiny_model) -> None:
    files = [examples.measured_path("PbSO4"), examples.measured_path("CdS")]
    code, out, err = run(
        capsys, "classify", *files, "--wavelength", "CuKa1", "--model", tiny_model, "--top", 3
    )
    assert code == 0, err
    classifier = load_pretrained(tiny_model)
    for path in files:
        section = out.split(f"{path}:", 1)[1]
        rows = [line.split() for line in section.splitlines()[2:5]]
        pattern = xs.io.read_pattern(path)
        expected = classifier.predict(pattern.two_theta, pattern.intensity, wavelength="CuKa1", top=3)[0]
        assert [int(r[0]) for r in rows] == [1, 2, 3]
        assert [int(r[1]) for r in rows] == list(expected.space_group)
        assert [r[2] for r in rows] == list(expected.symbol)
        assert "most probable crystal system:" in section
        assert "(--wavelength)" in section


def test_classify_says_when_a_file_was_measured_with_neutrons(capsys, tiny_model) -> None:
    neutron = Path(__file__).parent / "data" / "patterns" / "cod_1517474_pdcif.cif"  # a powder CIF, λ stated
    code, out, err = run(capsys, "classify", neutron, "--model", tiny_model, "--top", 2)
    assert code == 0, err
    assert "xrdsynth: warning:" in err and "neutron radiation" in err
    assert f"{neutron}: 3296 points" in out


def test_classify_a_file_on_q_with_the_wavelength_given(capsys, tiny_model, tmp_path) -> None:
    """A file whose x is Q and which states no wavelength: --wavelength converts it, and the answers are those
    of the same pattern on 2θ."""
    measured = xs.io.read_pattern(examples.measured_path("CdS"))
    q = 4 * np.pi * np.sin(np.radians(measured.two_theta / 2)) / 1.540593
    path = tmp_path / "cds_q.xy"
    rows = "".join(f"{a:.10g} {b:.10g}\n" for a, b in zip(q, measured.intensity, strict=True))
    path.write_text("# q_A^-1 I\n" + rows)
    code, out, err = run(capsys, "classify", path, "--model", tiny_model, "--top", 3)
    assert code != 0 and "xrdsynth classify --wavelength" in err
    code, out, err = run(capsys, "classify", path, "--wavelength", "CuKa1", "--model", tiny_model, "--top", 3)
    assert code == 0, err
    expected = load_pretrained(tiny_model).predict(measured, wavelength="CuKa1", top=3)[0]
    rows = [line.split() for line in out.split(f"{path}:", 1)[1].splitlines()[2:5]]
    assert [int(r[1]) for r in rows] == list(expected.space_group)


def test_classify_json_is_one_document_with_a_list_per_file(capsys, tiny_model, tmp_path) -> None:
    # A simulated .xy states its wavelength in the header: no --wavelength needed.
    xy = tmp_path / "quartz.xy"
    assert run(capsys, "simulate", QUARTZ, *GRID, "--out", xy)[0] == 0
    measured = examples.measured_path("CdS")
    code, out, err = run(capsys, "classify", xy, "--model", tiny_model, "--json", "--top", 4)
    assert code == 0, err
    document = json.loads(out)
    assert isinstance(document, list) and len(document) == 1
    entry = document[0]
    assert entry["file"] == str(xy)
    assert entry["wavelength"] == pytest.approx(1.540593) and entry["wavelength_from"] == "file"
    assert len(entry["space_groups"]) == 4
    assert {"number", "symbol", "crystal_system", "probability"} <= set(entry["space_groups"][0])
    assert sum(entry["crystal_systems"].values()) == pytest.approx(1.0)
    best = max(entry["crystal_systems"], key=entry["crystal_systems"].get)
    assert entry["most_probable_crystal_system"] == best
    assert "crystal_system" not in entry  # one name, one meaning: the systems of the top-k are per group

    code, out, _ = run(
        capsys, "classify", xy, measured, "--model", tiny_model, "--json", "--wavelength", 1.5406
    )
    assert code == 0
    document = json.loads(out)
    assert [e["file"] for e in document] == [str(xy), str(measured)]
    assert all(e["wavelength"] == 1.5406 and e["wavelength_from"] == "--wavelength" for e in document)

    # --precision float32 gives probabilities of plain float32 arithmetic: the same ranking, nearly the
    # same numbers as the default ("auto": bfloat16 on CPUs with bfloat16 instructions).
    code, out, _ = run(capsys, "classify", xy, "--model", tiny_model, "--json", "--precision", "float32")
    assert code == 0
    exact = json.loads(out)[0]["space_groups"]
    code, out, _ = run(capsys, "classify", xy, "--model", tiny_model, "--json", "--precision", "bfloat16")
    assert code == 0
    fast = json.loads(out)[0]["space_groups"]
    assert abs(exact[0]["probability"] - fast[0]["probability"]) < 0.05
    assert run(capsys, "classify", xy, "--model", tiny_model, "--precision", "half")[0] != 0


def test_classify_each_scan_of_a_file_or_the_one_asked(capsys, tiny_model, tmp_path) -> None:
    # Two scans one after another in one text file, the second a different pattern.
    measured = xs.io.read_pattern(examples.measured_path("PbSO4"))
    other = xs.io.read_pattern(examples.measured_path("CdS"))
    lines = [
        f"{t:.4f} {i:.3f}" for p in (measured, other) for t, i in zip(p.two_theta, p.intensity, strict=True)
    ]
    both = tmp_path / "two_scans.xy"
    both.write_text("# Cu Ka1\n" + "\n".join(lines) + "\n")
    code, out, err = run(capsys, "classify", both, "--model", tiny_model, "--all-scans", "--json", "--top", 3)
    assert code == 0, err
    document = json.loads(out)
    assert [e["range"] for e in document] == [1, 2] and all(e["file"] == str(both) for e in document)
    classifier = load_pretrained(tiny_model)
    for entry, pattern in zip(document, (measured, other), strict=True):
        expected = classifier.predict(pattern.two_theta, pattern.intensity, wavelength="CuKa1", top=3)[0]
        assert [g["number"] for g in entry["space_groups"]] == list(expected.space_group)
    code, out, err = run(capsys, "classify", both, "--model", tiny_model, "--scan", 1, "--top", 3)
    assert code == 0, err
    assert f"{both} [range 2]: {len(other)} points" in out
    # Without --scan, the first range, named as such, with a warning that the file holds more.
    code, out, err = run(capsys, "classify", both, "--model", tiny_model, "--top", 3)
    assert code == 0, err
    assert f"{both} [range 1]: {len(measured)} points" in out
    assert "holds 2 ranges; classifying range 1" in err and "--all-scans" in err
    assert run(capsys, "classify", both, "--model", tiny_model, "--scan", 2)[0] != 0  # the file holds 2
    assert run(capsys, "classify", both, "--model", tiny_model, "--scan", 0, "--all-scans")[0] != 0


def test_classify_plots_one_png_per_file(capsys, tiny_model, tmp_path) -> None:
    files = [examples.measured_path("PbSO4"), examples.measured_path("CdS")]
    target = tmp_path / "figures" / "prediction.png"
    code, _, err = run(
        capsys, "classify", *files, "--wavelength", "CuKa1", "--model", tiny_model, "--plot", target
    )
    assert code == 0, err
    written = sorted(p.name for p in target.parent.iterdir())
    assert written == ["prediction-CdS.png", "prediction-PbSO4.png"]
    for name in written:
        assert (target.parent / name).read_bytes()[:8] == PNG_SIGNATURE
    code, _, _ = run(
        capsys, "classify", files[0], "--wavelength", "CuKa1", "--model", tiny_model, "--plot", target
    )
    assert code == 0 and target.read_bytes()[:8] == PNG_SIGNATURE


# -------------------------------------------------------------------------------------------- info
def test_info_runs_without_a_shipped_model(capsys, monkeypatch, tmp_path) -> None:
    monkeypatch.setattr("xrdsynth.models._pretrained._SHIPPED", tmp_path / "none")
    code, out, _ = run(capsys, "info")
    assert code == 0
    for name in ("xrdsynth", "python", "torch", "numpy", "gemmi", "spglib", "CUDA", "threads"):
        assert name in out
    assert "not shipped" in out and "shipped models: none" in out


def test_info_shows_the_headline_figures_of_shipped_models(capsys, monkeypatch, tmp_path) -> None:
    classifier = Classifier.from_architecture(
        "resnet10", InputSpec(10.0, 70.0, 500), card={"steps": 7, "val_top1": 0.5, "amcsd": {"top1": 0.25}},
        width=8,
    )  # fmt: skip
    save_pretrained(classifier, tmp_path / "tiny-model")
    monkeypatch.setattr("xrdsynth.models._pretrained._SHIPPED", tmp_path)
    code, out, _ = run(capsys, "info")
    assert code == 0
    assert "tiny-model: resnet10" in out
    assert "steps: 7" in out and "val_top1: 0.5" in out and "amcsd.top1: 0.25" in out


# ------------------------------------------------------------------------------------------- errors
@pytest.fixture
def bad_files(tmp_path: Path) -> Path:
    (tmp_path / "empty.cif").write_text("")
    (tmp_path / "empty.xy").write_text("")
    (tmp_path / "binary.cif").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "binary.xy").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "far.xy").write_text("# wavelength = 1.5406\n100 1\n120 5\n150 2\n")
    (tmp_path / "garbage.cif").write_text("data_x\n_cell_length_a 5\nloop_\n_atom_site_label\n")
    return tmp_path


# argv, exit status, a piece of the message (what went wrong, or where).
BAD_INPUT = {
    "missing CIF": (["simulate", "{d}/missing.cif"], 1, "missing.cif"),
    "empty CIF": (["simulate", "{d}/empty.cif"], 1, "empty"),
    "binary CIF": (["simulate", "{d}/binary.cif"], 1, "binary"),
    "unparsable CIF": (["simulate", "{d}/garbage.cif"], 1, "garbage.cif"),
    "space group 231": (["sample", "--space-group", "231", "--out", "{d}/out"], 2, "231"),
    "space group 0 in a list": (
        ["generate", "-n", "4", "--out", "{d}/o", "--space-groups", "0-3"],
        2,
        "got 0",
    ),
    "negative wavelength": (["simulate", QUARTZ, "--wavelength", "-1.5"], 2, "-1.5"),
    "unknown wavelength": (["simulate", QUARTZ, "--wavelength", "CuKb"], 2, "CuKb"),
    "reversed grid": (["simulate", QUARTZ, "--two-theta", "90", "5", "100"], 2, "--two-theta"),
    "fractional grid points": (["simulate", QUARTZ, "--two-theta", "5", "90", "10.5"], 2, "10.5"),
    "missing pattern": (
        ["classify", "{d}/missing.xy", "--wavelength", "CuKa1", "--model", "{m}"],
        1,
        "missing",
    ),
    "empty pattern": (["classify", "{d}/empty.xy", "--wavelength", "CuKa1", "--model", "{m}"], 1, "empty"),
    "binary pattern": (["classify", "{d}/binary.xy", "--wavelength", "CuKa1", "--model", "{m}"], 1, "binary"),
    "pattern outside the model's grid": (["classify", "{d}/far.xy", "--model", "{m}"], 1, "does not overlap"),
    "no wavelength": (["classify", CDS, "--model", "{m}"], 2, "--wavelength"),
    "unknown model": (["classify", CDS, "--wavelength", "CuKa1", "--model", "{d}/no-model"], 1, "no-model"),
    "bad top": (["classify", CDS, "--top", "0"], 2, "--top"),
    "no command": ([], 2, "command"),
    "unknown command": (["simulat", QUARTZ], 2, "simulat"),
    "missing option": (["sample", "-n", "2"], 2, "--space-group"),
    "bad training option": (["train", "--out", "{d}/run", "--steps", "0"], 1, "steps"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_one_error_line_without_traceback(capsys, bad_files, tiny_model, case) -> None:
    argv, status, detail = BAD_INPUT[case]
    code, out, err = run(capsys, *(a.format(d=bad_files, m=tiny_model) for a in argv))
    assert code == status
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("xrdsynth: error: ")
    assert detail in lines[0]
    assert "Traceback" not in err + out


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_lets_the_exception_through(where) -> None:
    argv = ["simulate", "missing.cif"]
    argv = ["--debug", *argv] if where == "before" else [*argv, "--debug"]
    with pytest.raises(FileNotFoundError):
        main(argv)


def test_debug_shows_the_traceback_in_a_subprocess(tmp_path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "xrdsynth", "--debug", "simulate", str(tmp_path / "missing.cif")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        check=False,
    )
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "FileNotFoundError" in result.stderr


def test_interrupt_exits_130_quietly(capsys, monkeypatch) -> None:
    def interrupted(args: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr("xrdsynth.cli._cmd_info", interrupted)
    code, _, err = run(capsys, "info")
    assert code == 130
    assert err.strip() == "xrdsynth: interrupted"
