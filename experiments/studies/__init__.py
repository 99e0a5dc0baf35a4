"""The papers' headline results as studies for `experiments.reproduce`: one module a paper."""

from experiments.studies import hu2017, wake_sleep
from experiments.studies.spec import Arm, Scale, Selection, Study

STUDIES: dict[str, Study] = {study.name: study for study in hu2017.STUDIES + wake_sleep.STUDIES}

__all__ = ["Arm", "STUDIES", "Scale", "Selection", "Study"]
