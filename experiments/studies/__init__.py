"""The papers' headline results as studies for `experiments.reproduce`: one module a paper."""

from experiments.studies import ada, hu2017
from experiments.studies.spec import Arm, Scale, Selection, Study

STUDIES: dict[str, Study] = {study.name: study for study in hu2017.STUDIES + ada.STUDIES}

__all__ = ["Arm", "STUDIES", "Scale", "Selection", "Study"]
