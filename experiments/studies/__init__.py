"""The papers' headline results as studies for `experiments.reproduce`: one module a paper."""

from experiments.studies import (
    ada,
    asvae,
    autoencoding_gans,
    hu2017,
    hu2017_svae,
    rosca2017,
    stabilisers,
    su2018,
    wake_sleep,
)
from experiments.studies.spec import Arm, Scale, Selection, Study, Sweep

MODULES = (
    hu2017,
    hu2017_svae,
    ada,
    wake_sleep,
    autoencoding_gans,
    rosca2017,
    su2018,
    stabilisers,
    asvae,
)
STUDIES: dict[str, Study] = {study.name: study for module in MODULES for study in module.STUDIES}

__all__ = ["Arm", "STUDIES", "Scale", "Selection", "Study", "Sweep"]
