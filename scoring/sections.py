"""The policy sections scoring owns, by name, with the reader that validates each.

`budgets.policy` keeps `[scoring]` and `[governance]` as raw tables (budgets never imports
scoring); whoever loads the whole policy hands `POLICY_SECTIONS` to `load_policy` or
`parse_policy` (the composition root, `tokenbot policy check`, the simulation), so their problems
are reported in the same pass as every other, under their dotted keys.
"""

from __future__ import annotations

from collections.abc import Mapping

from budgets.policy import SectionReader
from scoring.config import read_scoring
from scoring.governance import read_governance

POLICY_SECTIONS: Mapping[str, SectionReader] = {
    "scoring": read_scoring,
    "governance": read_governance,
}
