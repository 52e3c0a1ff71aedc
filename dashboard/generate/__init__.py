"""Synthetic data generator: a fictional local authority's statutory returns and local extracts.

``generate_frames(children, seed, years)`` simulates coherent journeys (referral, assessment, CIN plan or
S47 -> ICPC -> CP plan, care entry, placement moves, legal status changes, X1-chained episodes, leaving care,
missing episodes, social worker changes, school moves) and returns Polars frames shaped like the warehouse
tables of schema.sql. ``write_dataset`` renders them as the files a council hands over (docs/architecture.md):
per-year SSDA903 CSV sets, per-year CIN census XML valid against that year's XSD, and the local extracts.

Deterministic: the same seed and arguments give byte-identical files (numpy Generator seeded; no clock, no
dict/set ordering in outputs).

Rare outcomes that headline measures count (CP plans lasting 2+ years, unsettled years in care, emergency
placements) are handed out quasi-randomly (a golden-ratio sequence in date order, from a seeded start), so a
small authority lands near England's rates every year instead of swinging by chance; the rates and the
spread they keep are in sample_data/README.md and tests/test_measures_plausibility.py.

Faults (files only, switched by ``faults``; the frames stay clean). Per return, each kind hits
round(rate x eligible rows), at least one when any row is eligible, on distinct rows:

=============================  ============================  ======  =======================================
kind                           file                          rate    what
=============================  ============================  ======  =======================================
missing_date                   ssda903/<Y>/episodes.csv      0.5%    DECOM left blank
end_before_start               ssda903/<Y>/episodes.csv      0.3%    DEC 1-30 days before DECOM
overlapping_episodes           ssda903/<Y>/episodes.csv      0.3%    X1 episode's DEC 7 days past next DECOM
unknown_code                   ssda903/<Y>/episodes.csv      0.2%    PLACE = ZZ9 (no such code)
duplicate_row                  ssda903/<Y>/episodes.csv      1 row   one episode row repeated next to itself
assessment_end_before_start    cin/CIN_Census_<Y>.xml        0.5%    authorisation 1-20 days before start
=============================  ============================  ======  =======================================
CIN faults keep the XML valid against its XSD (real validators catch them, the schema does not).
"""

from __future__ import annotations

from pathlib import Path

from dashboard.generate.core import generate_frames
from dashboard.generate.writers import FAULTS, write_all

__all__ = ["FAULTS", "generate_frames", "write_dataset"]


def write_dataset(out: Path, children: int, seed: int, years: range, faults: bool = True) -> dict:
    """Generate and write a whole data set under ``out``; returns the frames it was rendered from."""
    frames = generate_frames(children, seed, years)
    write_all(frames, Path(out), years, faults, seed)
    return frames
