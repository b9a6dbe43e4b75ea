"""Check xrdsynth's CIF reader on a directory of CIFs against independent expansions.

Usage:
    python scripts/validate_cif_reading.py DATA_DIR [--json summary.json] [--workers 2] [--limit N]

DATA_DIR holds ``cifs/*.cif`` and optionally ``index.csv`` (columns ``file`` and ``space_group``, as in
amcsd-dev). For every file:

1. ``Crystal.from_cif`` must succeed ("read").
2. The composition per cell (occupancy sum per element, relative tolerance 1e-3) must equal that of an
   independent expansion with gemmi: gemmi parses the file and gives the operations (its space group, or
   the file's own operations where gemmi does not know their setting), each site is mapped by every
   operation, and images of one site closer than 0.1 Å count as one atom (a special position written with
   rounded coordinates). gemmi's stock ``get_all_unit_cell_sites()``, which merges images closer than
   0.4 Å and so collapses split (disordered) sites into one atom, is reported as a second figure, and
   pymatgen's CifParser arbitrates where they differ.
3. The space-group number must equal index.csv's ``space_group`` (derived from the file's operations by the
   data set's author); where the index has none, the number of gemmi's ``find_spacegroup_by_ops``; where
   neither exists, spglib on the reference expansion.

Where the composition differs, the file's own ``_chemical_formula_sum`` (any Z) arbitrates: the script
reports which side it agrees with.

Also reported: spglib's group of xrdsynth's expansion against spglib's group of the reference expansion
(same species encoding, symprec 0.01 Å: do both expansions have the same geometry?), and against the file's
group (information only: disorder and pseudo-symmetry make these differ legitimately).
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import multiprocessing
import re
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import gemmi
import numpy as np
import spglib
from tqdm import tqdm

import xrdsynth as xs

RELATIVE_TOLERANCE = 1e-3
FORMULA_TOLERANCE = 0.02  # formula sums are rounded by their authors; ratios agree to 2%
SYMPREC = 0.01  # Å


def _composition_close(a: dict[int, float], b: dict[int, float]) -> bool:
    keys = {k for k, v in a.items() if v > 1e-9} | {k for k, v in b.items() if v > 1e-9}
    for k in keys:
        x, y = a.get(k, 0.0), b.get(k, 0.0)
        if abs(x - y) > RELATIVE_TOLERANCE * max(abs(x), abs(y)) + 1e-9:
            return False
    return True


def _formula(block: gemmi.cif.Block) -> dict[int, float] | None:
    raw = block.find_value("_chemical_formula_sum")
    if raw is None or gemmi.cif.is_null(raw):
        return None
    result: dict[int, float] = collections.defaultdict(float)
    for symbol, count in re.findall(r"([A-Z][a-z]?)\s*([0-9]*\.?[0-9]*)", gemmi.cif.as_string(raw)):
        z = 1 if symbol in {"D", "T"} else gemmi.Element(symbol).atomic_number
        if z == 0:
            return None
        result[z] += float(count) if count not in ("", ".") else 1.0
    return dict(result) or None


def _proportional(composition: dict[int, float], formula: dict[int, float] | None) -> bool | None:
    if formula is None:
        return None
    if composition.get(1, 0.0) == 0.0:
        # Hydrogen atoms are often not located by X-ray refinements although the formula counts them.
        formula = {k: v for k, v in formula.items() if k != 1}
        if not formula:
            return None
    present = {k for k, v in composition.items() if v > 1e-6}
    if present != {k for k, v in formula.items() if v > 0}:
        return False
    ratios = np.array([composition[k] / formula[k] for k in formula])
    return bool(np.ptp(ratios) <= FORMULA_TOLERANCE * ratios.mean())


def _spglib_number(lattice: np.ndarray, frac: np.ndarray, numbers: np.ndarray, occ: np.ndarray) -> int | None:
    """spglib on sites whose species is the set of (element, occupancy) at one position (within 3e-3 Å)."""
    delta = frac[:, None, :] - frac[None, :, :]
    delta -= np.round(delta)
    close = np.linalg.norm(delta @ lattice, axis=-1) < max(SYMPREC, 3e-3)
    site_of = -np.ones(len(frac), dtype=int)
    reps: list[int] = []
    for i in range(len(frac)):
        if site_of[i] < 0:
            site_of[close[i] & (site_of < 0)] = len(reps)
            reps.append(i)
    contents: dict[int, list[tuple[int, float]]] = collections.defaultdict(list)
    for i, s in enumerate(site_of):
        contents[int(s)].append((int(numbers[i]), round(float(occ[i]), 4)))
    ids: dict[tuple, int] = {}
    types = [ids.setdefault(tuple(sorted(contents[s])), len(ids) + 1) for s in range(len(reps))]
    try:
        dataset = spglib.get_symmetry_dataset((lattice, frac[reps], types), symprec=SYMPREC)
    except spglib.SpglibError:
        return None
    return None if dataset is None else int(dataset.number)


def _water_fix(z: int, label: str) -> int:
    # The reading rule of xrdsynth for one known conversion error ("Wat" sites typed "W"), applied to the
    # references too so that the comparison is about the expansion; affected files are counted separately.
    return 8 if z == 74 and label.upper().startswith("WAT") else z


SAME_SITE = 0.1  # Å: images of one site closer than this are one atom in the gemmi reference


def _gemmi_reference(path: Path) -> dict[str, Any]:
    """Expansion by gemmi's operations; images of one site closer than SAME_SITE Å are one atom."""
    ss = gemmi.read_small_structure(str(path))
    if ss.spacegroup is not None:
        ops = list(ss.spacegroup.operations())
    else:  # a setting gemmi does not name: the file's own operations, parsed by gemmi
        ops = [gemmi.Op(text) for text in ss.symops] or [gemmi.Op("x,y,z")]
    lattice = np.array(ss.cell.orth.mat.tolist()).T  # rows a, b, c
    frac, numbers, occ = [], [], []
    for site in ss.sites:
        kept: list[np.ndarray] = []
        for image in np.array([op.apply_to_xyz(site.fract.tolist()) for op in ops]) % 1.0:
            if all(np.linalg.norm(((image - q + 0.5) % 1.0 - 0.5) @ lattice) > SAME_SITE for q in kept):
                kept.append(image)
        frac.extend(kept)
        numbers.extend([_water_fix(site.element.atomic_number, site.label)] * len(kept))
        occ.extend([site.occ] * len(kept))
    return {
        "by": "gemmi",
        "ops_group": None if ss.spacegroup is None else ss.spacegroup.number,
        "lattice": lattice,
        "frac": np.array(frac).reshape(-1, 3),
        "numbers": np.array(numbers),
        "occ": np.array(occ),
    }


def _gemmi_stock_composition(path: Path) -> dict[int, float] | None:
    """Composition of gemmi's own get_all_unit_cell_sites() (None where gemmi expands nothing)."""
    ss = gemmi.read_small_structure(str(path))
    if ss.spacegroup is None:
        return None
    sites = ss.get_all_unit_cell_sites()
    numbers = np.array([_water_fix(s.element.atomic_number, s.label) for s in sites])
    return _composition(numbers, np.array([s.occ for s in sites]))


def _pymatgen_reference(path: Path) -> dict[str, Any]:
    from pymatgen.io.cif import CifParser

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        structure = CifParser(str(path)).parse_structures(primitive=False)[0]
    frac, numbers, occ = [], [], []
    for site in structure:
        for specie, amount in site.species.items():
            frac.append(site.frac_coords)
            numbers.append(_water_fix(specie.Z, site.label or ""))
            occ.append(amount)
    return {
        "by": "pymatgen",
        "ops_group": None,
        "lattice": np.array(structure.lattice.matrix),
        "frac": np.array(frac).reshape(-1, 3) % 1.0,
        "numbers": np.array(numbers),
        "occ": np.array(occ),
    }


def _composition(numbers: np.ndarray, occupancies: np.ndarray) -> dict[int, float]:
    result: dict[int, float] = collections.defaultdict(float)
    for z, o in zip(numbers.tolist(), occupancies.tolist(), strict=True):
        result[int(z)] += float(o)
    return dict(result)


def _hm_group(block: gemmi.cif.Block, crystal: xs.Crystal) -> int | None:
    raw = block.find_value("_symmetry_space_group_name_H-M") or block.find_value("_space_group_name_H-M_alt")
    if raw is None:
        return None
    _, _, _, alpha, _, gamma = crystal.cell_parameters
    sg = gemmi.find_spacegroup_by_name(gemmi.cif.as_string(raw).strip(), alpha, gamma)
    return None if sg is None else int(sg.number)


def check_file(task: tuple[str, int | None]) -> dict[str, Any]:
    """Everything measured for one file (runs in a worker process)."""
    name, index_group = task
    path = Path(name)
    out: dict[str, Any] = {"file": path.name}
    start = time.perf_counter()
    try:
        crystal = xs.Crystal.from_cif(path)
    except xs.CIFError as exc:
        out["read_error"] = str(exc)
        return out
    except Exception as exc:  # an exception other than CIFError is a bug in the reader; record it
        out["read_error"] = f"BUG {type(exc).__name__}: {exc}"
        return out
    out["read_seconds"] = time.perf_counter() - start
    block = gemmi.cif.read_file(str(path)).sole_block()
    out["water_relabelled"] = any(
        gemmi.cif.as_string(label).upper().startswith("WAT") and gemmi.cif.as_string(symbol).strip() == "W"
        for label, symbol in zip(
            block.find_values("_atom_site_label"), block.find_values("_atom_site_type_symbol"), strict=False
        )
    )
    try:
        ref = _gemmi_reference(path)
        stock = _gemmi_stock_composition(path)
    except Exception as exc:  # the references are third-party readers; their failures are reported
        out["reference_error"] = f"{type(exc).__name__}: {exc}"
        return out

    mine = _composition(crystal.numbers, crystal.occupancies)
    theirs = _composition(ref["numbers"], ref["occ"])
    formula = _formula(block)
    agrees = _composition_close(mine, theirs)
    out["gemmi_stock_agrees"] = None if stock is None else _composition_close(mine, stock)
    out["second_reference_agrees"] = None
    if not agrees and ref["by"] == "gemmi":
        try:
            second = _pymatgen_reference(path)
            out["second_reference_agrees"] = _composition_close(
                mine, _composition(second["numbers"], second["occ"])
            )
        except Exception:  # a failure of the second reference leaves the disagreement standing
            out["second_reference_agrees"] = False
    out.update(
        reference=ref["by"],
        composition_agrees=agrees,
        count_agrees=crystal.num_atoms == len(ref["numbers"]),
        formula_agrees_mine=_proportional(mine, formula),
        formula_agrees_reference=_proportional(theirs, formula),
        space_group=crystal.space_group,
        index_group=index_group,
        gemmi_ops_group=ref["ops_group"],
    )
    spglib_ref = _spglib_number(ref["lattice"], ref["frac"], ref["numbers"], ref["occ"])
    out["spglib_reference"] = spglib_ref
    try:
        out["spglib_mine"] = crystal.detect_space_group(symprec=SYMPREC)
    except ValueError:
        out["spglib_mine"] = None
    if index_group is not None:
        out["group_reference"], out["group_reference_by"] = index_group, "index.csv"
    elif ref["ops_group"] is not None:
        out["group_reference"], out["group_reference_by"] = ref["ops_group"], "gemmi find_spacegroup_by_ops"
    elif _hm_group(block, crystal) is not None:
        out["group_reference"], out["group_reference_by"] = (
            _hm_group(block, crystal),
            "the H-M symbol (gemmi)",
        )
    else:
        out["group_reference"], out["group_reference_by"] = spglib_ref, "spglib on the reference expansion"
    out["group_agrees"] = crystal.space_group == out["group_reference"]
    return out


def _normalise_error(message: str) -> str:
    text = message.split(": ", 1)[1] if ": " in message else message
    text = re.sub(r"data block '[^']*': ", "", text)
    text = re.sub(r"site '[^']*'", "site X", text)
    text = re.sub(r"[-+]?\d+(\.\d+)?", "#", text)
    return text[:90]


def _reason(r: dict[str, Any]) -> str | None:
    if "read_error" in r:
        return "not read: " + _normalise_error(r["read_error"])
    if "reference_error" in r:
        return "reference reader failed: " + r["reference_error"][:80]
    if not r["composition_agrees"]:
        mine, ref = r["formula_agrees_mine"], r["formula_agrees_reference"]
        side = {
            (True, False): "xrdsynth",
            (False, True): r["reference"],
            (True, True): "both (single element or same ratios)",
        }.get((bool(mine), bool(ref)), "neither")
        second = {True: "pymatgen agrees with xrdsynth", False: "pymatgen differs too", None: ""}
        return (
            f"composition differs from {r['reference']}; {second[r['second_reference_agrees']]}; "
            f"_chemical_formula_sum sides with {side}"
        )
    if not r["group_agrees"]:
        return f"space group {r['space_group']} differs from {r['group_reference_by']}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--json", type=Path, default=None, help="write a JSON summary here")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="only the first N files (quick checks)")
    args = parser.parse_args(argv)

    files = sorted((args.data_dir / "cifs").glob("*.cif"))
    if args.limit is not None:
        files = files[: args.limit]
    index: dict[str, int | None] = {}
    index_path = args.data_dir / "index.csv"
    if index_path.exists():
        with open(index_path, newline="") as handle:
            for row in csv.DictReader(handle):
                value = row.get("space_group", "").strip()
                index[Path(row["file"]).name] = int(value) if value.isdigit() else None
    tasks = [(str(f), index.get(f.name)) for f in files]

    start = time.perf_counter()
    if args.workers > 1:
        with multiprocessing.Pool(args.workers) as pool:
            results = list(tqdm(pool.imap_unordered(check_file, tasks, chunksize=8), total=len(tasks)))
    else:
        results = [check_file(t) for t in tqdm(tasks)]
    elapsed = time.perf_counter() - start
    results.sort(key=lambda r: r["file"])

    n = len(results)
    read = [r for r in results if "read_error" not in r]
    compared = [r for r in read if "reference_error" not in r]
    agree = [r for r in compared if _reason(r) is None]
    second_side = [
        r
        for r in compared
        if not r["composition_agrees"] and r["second_reference_agrees"] and r["group_agrees"]
    ]
    formula_side = [
        r
        for r in compared
        if not r["composition_agrees"]
        and r["formula_agrees_mine"]
        and not r["formula_agrees_reference"]
        and r["group_agrees"]
    ]
    water = [r for r in read if r.get("water_relabelled")]
    composition_ok = [r for r in compared if r["composition_agrees"]]
    stock = [r for r in compared if r["gemmi_stock_agrees"] is not None]
    stock_ok = [r for r in stock if r["gemmi_stock_agrees"]]
    count_ok = [r for r in compared if r["count_agrees"]]
    group_ok = [r for r in compared if r["group_agrees"]]
    geometry = [r for r in compared if r["spglib_mine"] is not None and r["spglib_reference"] is not None]
    geometry_ok = [r for r in geometry if r["spglib_mine"] == r["spglib_reference"]]
    file_vs_spglib = [r for r in compared if r["spglib_reference"] is not None]
    file_vs_spglib_ok = [r for r in file_vs_spglib if r["space_group"] == r["spglib_reference"]]
    read_times = np.array([r["read_seconds"] for r in read])

    def share(part: list[Any], whole: list[Any]) -> float:
        return len(part) / len(whole) if whole else float("nan")

    reasons: dict[str, list[str]] = collections.defaultdict(list)
    for r in results:
        reason = _reason(r)
        if reason is not None:
            reasons[reason].append(r["file"])
    table = sorted(reasons.items(), key=lambda item: -len(item[1]))

    lines = [
        f"files: {n}   time: {elapsed:.1f} s with {args.workers} worker(s); "
        f"median read {1e3 * np.median(read_times):.1f} ms, max {1e3 * read_times.max():.0f} ms",
        f"read by Crystal.from_cif:                        {len(read)}/{n} = {share(read, results):.2%}",
        f"compared with gemmi's operations expansion:     {len(compared)}",
        f"composition per cell = reference:                {share(composition_ok, compared):.2%}",
        f"  (= gemmi's stock get_all_unit_cell_sites, which merges within 0.4 Å: "
        f"{share(stock_ok, stock):.2%} of {len(stock)})",
        f"atom count = reference:                          {share(count_ok, compared):.2%}",
        f"space group = index.csv / gemmi ops / H-M symbol: {share(group_ok, compared):.2%}",
        f"composition and space group agree:               {len(agree)}/{len(read)} "
        f"= {share(agree, read):.2%}",
        f"  + where gemmi differs but pymatgen's expansion agrees: {len(second_side)} "
        f"-> {share(agree + second_side, read):.2%}",
        f"  (where gemmi differs, _chemical_formula_sum sides with xrdsynth in {len(formula_side)})",
        f"files with 'Wat' sites typed 'W' (read as oxygen here and in the references): {len(water)}",
        f"spglib(xrdsynth) = spglib(reference), symprec {SYMPREC} Å: {share(geometry_ok, geometry):.2%} "
        f"of {len(geometry)}",
        f"file's group = spglib(reference) (information):  {share(file_vs_spglib_ok, file_vs_spglib):.2%}",
        "",
        "Reasons for the rest (count, reason, examples):",
    ]
    for reason, names in table:
        lines.append(f"  {len(names):5d}  {reason}   e.g. {', '.join(names[:3])}")
    print("\n".join(lines))

    if args.json is not None:
        summary = {
            "data_dir": str(args.data_dir),
            "files": n,
            "read": len(read),
            "read_share": share(read, results),
            "compared": len(compared),
            "agree": len(agree),
            "agree_share_of_read": share(agree, read),
            "pymatgen_agrees_where_gemmi_differs": len(second_side),
            "agree_with_gemmi_or_pymatgen_share": share(agree + second_side, read),
            "formula_sides_with_xrdsynth_where_gemmi_differs": len(formula_side),
            "water_relabelled_files": len(water),
            "composition_share": share(composition_ok, compared),
            "gemmi_stock_composition_share": share(stock_ok, stock),
            "count_share": share(count_ok, compared),
            "space_group_share": share(group_ok, compared),
            "spglib_geometry_share": share(geometry_ok, geometry),
            "file_group_equals_spglib_share": share(file_vs_spglib_ok, file_vs_spglib),
            "symprec": SYMPREC,
            "relative_tolerance": RELATIVE_TOLERANCE,
            "seconds": elapsed,
            "reasons": [{"reason": k, "count": len(v), "examples": v[:10]} for k, v in table],
            "versions": {
                "xrdsynth": xs.__version__,
                "gemmi": gemmi.__version__,
                "spglib": spglib.__version__,
            },
        }
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
