"""Read a bundled crystal structure, print its space group and occupied Wyckoff sites, simulate its
powder pattern (Cu Kα1, 5–90° 2θ: the strongest reflections and a batch of patterns), and classify that
pattern and a bundled measured laboratory pattern with the shipped space-group classifier.

Run with ``make demo`` (which creates the environment first), or ``python examples/quickstart.py [NAME]``
with xrdsynth installed; NAME is one of ``xrdsynth.examples.names()`` (default: quartz).
"""

from __future__ import annotations

import sys

import gemmi
import numpy as np

import xrdsynth as xs
import xrdsynth.examples


def main(name: str = "quartz") -> None:
    crystal = xs.Crystal.from_cif(xrdsynth.examples.cif_path(name))
    a, b, c, alpha, beta, gamma = crystal.cell_parameters
    group = xs.symmetry.SpaceGroup(crystal.space_group)

    print(f"{name}: {crystal.formula}, {crystal.num_atoms} atoms in the unit cell")
    print(f"cell: a={a:.4f} b={b:.4f} c={c:.4f} Å, alpha={alpha:.2f} beta={beta:.2f} gamma={gamma:.2f}°")
    print(f"space group: {group.number} {group.symbol} ({group.crystal_system})")

    # Which Wyckoff position each set of symmetry-equivalent atoms occupies (spglib finds the symmetry;
    # atoms of a mixed or partially occupied site stay together and are listed with their occupancies).
    sites = crystal.wyckoff_sites()
    found = sites[0].position.space_group
    if found != group.number:
        print(f"note: spglib finds space group {found} for the atoms; the sites below refer to it")
    print("occupied Wyckoff sites:")
    print(f"  {'site':<6}{'symmetry':<10}{'position':<14}{'first atom (fractional)':<26}content")
    for site in sites:
        first = site.atoms[0]
        at_first = [i for i in site.atoms if np.allclose(crystal.frac_coords[i], crystal.frac_coords[first])]
        content = " ".join(
            f"{gemmi.Element(int(crystal.numbers[i])).name}"
            + ("" if crystal.occupancies[i] == 1 else f"({crystal.occupancies[i]:.3g})")
            for i in at_first
        )
        x, y, z = crystal.frac_coords[first]
        position = site.position
        print(f"  {position.label:<6}{position.site_symmetry:<10}{position.coordinates:<14}"
              f"{x:<8.4f} {y:<8.4f} {z:<8.4f} {content}")


    # The stick pattern: every reflection family in range, merged where positions coincide.
    simulator = xs.PowderSimulator(two_theta=(5.0, 90.0, 8501), wavelength="CuKa1", seed=0)
    peaks = simulator.peaks(crystal)
    print(f"powder pattern, Cu Kα1: {len(peaks)} peaks in 5–90° 2θ; the strongest:")
    print(f"  {'hkl':<12}{'2θ (°)':>9}{'d (Å)':>9}{'I':>8}{'mult':>6}")
    for k in np.argsort(peaks.intensity)[::-1][:6]:
        hkl = " ".join(str(int(i)) for i in peaks.hkl[k])
        print(f"  {hkl:<12}{peaks.two_theta[k]:>9.3f}{peaks.d[k]:>9.4f}{peaks.intensity[k]:>8.1f}"
              f"{peaks.multiplicity[k]:>6}")

    # Profiles for a batch: the same crystal four times with random crystallite sizes of 20-100 nm.
    patterns = simulator([crystal] * 4)
    two_theta = simulator.two_theta
    top = two_theta[patterns.argmax(dim=1)]
    print(f"simulated {tuple(patterns.shape)} patterns (max 1); strongest peak at {top[0]:.2f}° 2θ in each")

    # The shipped classifier (trained on synthetic crystals only) reads any grid and wavelength.
    classifier = xs.models.load_pretrained()
    print(f"\nclassifier {xs.models.DEFAULT_MODEL}, the simulated pattern of {name} (group {group.number}):")
    print(classifier.predict(two_theta.numpy(), patterns[0].numpy(), wavelength="CuKa1", top=3)[0])
    measured = xs.io.read_pattern(xrdsynth.examples.measured_path("PbSO4"))
    truth = xrdsynth.examples.measured_space_group("PbSO4")
    print(f"a measured laboratory pattern of PbSO4 ({len(measured.two_theta)} points, Cu Kα; group {truth}):")
    print(classifier.predict(measured.two_theta, measured.intensity, wavelength="CuKa1", top=3)[0])


if __name__ == "__main__":
    main(*sys.argv[1:2])
