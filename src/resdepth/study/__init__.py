"""The paper's question as a tool: under one budget, how should depth and width trade?

A study trains a family of network shapes, each fitted to the same parameter (and
optionally MAC) budget, with one recipe, and reports their accuracy side by side:
:func:`plan_study` chooses the shapes, :func:`run_study` trains them (each an
ordinary run folder, so a study resumes and splits over machines),
:func:`study_report` merges what has finished and :func:`plot_study` draws it.
:func:`plot_history` draws one run's curves beside the paper's own logs; a study
folder's files are named by :class:`StudyDir`.
"""

from .folder import StudyDir
from .paper_results import PAPER_RESULTS
from .plan import FAMILIES, StudyShape, plan_study, spread_blocks
from .plots import plot_history, plot_study
from .report import REPORT_COLUMNS, study_report
from .run import run_study

__all__ = [
    "FAMILIES",
    "PAPER_RESULTS",
    "REPORT_COLUMNS",
    "StudyDir",
    "StudyShape",
    "plan_study",
    "plot_history",
    "plot_study",
    "run_study",
    "spread_blocks",
    "study_report",
]
