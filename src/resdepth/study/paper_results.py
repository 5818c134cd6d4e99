"""The paper's published results, for reports and figures to set beside a study."""

from __future__ import annotations

__all__ = ["PAPER_RESULTS"]

#: The paper's networks (resdepth's presets of the same names) and the test accuracy
#: its Table 1 reports for each, in percent (recipe AS1, 200 epochs).
PAPER_RESULTS = {"resnet10": 94.41, "resnet40": 95.20, "resnet102": 94.23}
