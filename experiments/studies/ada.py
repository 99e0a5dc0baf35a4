"""Adversarial domain adaptation (Hu et al. 2017, arXiv 1706.00550, Section 3.1, eq. 1;
Ganin et al. 2016, arXiv 1505.07818, Table 2): the target domain's test accuracy of a label
classifier trained on labelled source digits, without (source only) and with the adversarial
domain game."""

from __future__ import annotations

from experiments.studies.spec import Arm, Scale, Selection, Study

CPU_STEPS = 400
PAPER_STEPS = 20000

SCALES = {
    # Target mnist5k, source digits ("auto"): ~2 min a run on 2 shared cores.
    "cpu": Scale(dataset="mnist5k", steps=CPU_STEPS, seeds=3, config={"schedule_steps": CPU_STEPS}),
    # Ganin et al.'s SVHN -> MNIST (TFDS): target mnist, source svhn_cropped ("auto").
    "paper": Scale(
        dataset="mnist", steps=PAPER_STEPS, seeds=3, config={"schedule_steps": PAPER_STEPS}
    ),
}
# Ganin et al. 2016 train with SGD, momentum 0.9, mu_p = 0.01 / (1 + 10 p)^0.75.
# The schedules run over each scale's steps (its `config`).
SETTINGS = {"optimizer": "sgd", "learning_rate": 0.01}
# The adaptation weight of each ADA arm, chosen on a validation share of the target's training
# split (its labels used for that choice only, never in training), by the first seed.
WEIGHTS = Selection("adaptation_weight", (0.1, 0.3, 1.0))

STUDY = Study(
    name="hu2017_ada",
    title=(
        "Adversarial domain adaptation (Hu et al. 2017, arXiv 1706.00550, eq. 1; Ganin et al. "
        "2016, arXiv 1505.07818, Table 2): target test accuracy, source only vs ADA"
    ),
    metric=("classification_accuracy", "value"),
    arms=(
        # The scale's pair: digits -> mnist5k at cpu scale, SVHN -> MNIST at paper scale.
        Arm(
            "source only, scale's pair", "ada", {**SETTINGS, "adaptation_weight": 0.0}, {}, "0.5490"
        ),
        Arm("ADA, scale's pair", "ada", SETTINGS, {}, "0.7385", WEIGHTS),
        # mnist5k -> digits at both scales.
        Arm(
            "source only, mnist5k -> digits",
            "ada",
            {**SETTINGS, "adaptation_weight": 0.0},
            {"dataset": "digits"},
        ),
        Arm("ADA, mnist5k -> digits", "ada", SETTINGS, {"dataset": "digits"}, select=WEIGHTS),
    ),
    scales=SCALES,
    validation_fraction=0.1,
    notes=(
        "The scale's pair is digits (8x8 UCI digits upsampled to 28x28) -> mnist5k at cpu "
        "scale and SVHN -> MNIST at paper scale, where the paper column is Ganin et al. 2016, "
        "Table 2 (source only 0.5490, DANN 0.7385); Hu et al. 2017 report no ADA numbers, and "
        "neither paper has the offline digit pairs. Both arms of a pair train the same "
        "networks (Ganin et al.'s MNIST extractor, conv 32-48, and label predictor 100-100) "
        "with SGD, momentum 0.9, Ganin et al.'s annealed learning rate and adaptation "
        "schedule (gamma 10) over the scale's steps; source only has adaptation weight 0, "
        "ADA's weight is chosen from "
        "{0.1, 0.3, 1} on a 10% validation share of the target's training split (its labels "
        "serve that choice only: an oracle selection; Ganin et al. select by reverse "
        "validation); every arm trains on the other 90%. "
        "Target labels are never read in training; the score is the label classifier's "
        "accuracy on the target's test split. Mean ± std over seeds."
    ),
)

STUDIES = (STUDY,)
