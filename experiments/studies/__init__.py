"""The papers' headline results as studies for `experiments.reproduce`: one module a paper."""

from experiments.studies import ada, autoencoding_gans, hu2017, hu2017_svae, su2018, wake_sleep
from experiments.studies.spec import Arm, Scale, Selection, Study

MODULES = (hu2017, hu2017_svae, ada, wake_sleep, autoencoding_gans, su2018)
STUDIES: dict[str, Study] = {study.name: study for module in MODULES for study in module.STUDIES}

__all__ = ["Arm", "STUDIES", "Scale", "Selection", "Study"]
