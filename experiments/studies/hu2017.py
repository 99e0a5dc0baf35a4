"""Hu, Yang, Salakhutdinov, Xing 2017, "On Unifying Deep Generative Models", arXiv 1706.00550:
Table 2 (left, middle) and Figure 1 (left, middle); and InfoGAN (Chen et al. 2016, arXiv
1606.03657), which Hu et al. read as eq. 5."""

from __future__ import annotations

from experiments.studies.common import mixture_sanity_row
from experiments.studies.spec import Arm, Scale, Selection, Study
from unigen_jax.data import mnist_full
from unigen_jax.models.common import CHEN_MNIST as CHEN_ARCHITECTURE
from unigen_jax.models.infogan import CHEN_MNIST

# Section 5.2: "We select the best temperature from {1, 1.5, 3, 5} through cross-validation."
TEMPERATURES = Selection("temperature", (1.0, 1.5, 3.0, 5.0))
FRACTIONS = (0.01, 0.1, 1.0)
# Figure 1 left as the paper reports it (VAE vs AA-VAE, test lower bound in nats).
VAE_BOUNDS = {0.01: ("-122.89", "-122.15"), 0.1: ("-104.49", "-103.05"), 1.0: ("-92.53", "-92.42")}


def _every_fifth(steps: int) -> tuple[int, ...]:
    """The scored steps before the last: every fifth of the run (5 points with the last)."""
    return tuple(range(steps // 5, steps, steps // 5))


# Full scale of Table 2 left and middle: DCGAN's training settings (Radford et al. 2016, arXiv
# 1511.06434, Section 4: Adam 2e-4, beta1 0.5, batch 128, N(0, 0.02) weights; Figure 1: a
# 100-dimensional uniform code) on all 60,000 training digits, with the MNIST networks of Chen
# et al.'s released code (FC-1024 and BatchNorm layers). Hu et al. name "the DCGAN architecture";
# the TensorFlow DCGAN most used then (carpedm20/DCGAN-tensorflow, model.py) has, for MNIST, the
# same shape: fully connected 1024-unit BatchNorm layers in G and D around two convolutions
# each (its D convs have 11 and 74 channels where Chen et al.'s have 64 and 128; it conditions
# every layer on the label). The project's DCGAN nets, measured first, reached an inception
# score of 7.27 at 12,000 steps (GAN and IWGAN, seed 0, rising by about 0.1 a 2,400 steps);
# these nets scored 7.46, 8.00, 8.40, 8.46 at steps 1,200 to 4,800 (GAN probe, seed 0). 5,000
# steps of 128 are 10.7 passes (Hu et al. give no length); 60-64 min a run on one core beside
# another run (measured: 1.3-1.4 steps/s).
GAN_FULL_STEPS = 5000
DCGAN_CODE = {"latent_dim": 100, "noise": "uniform"}
# What the full scale keeps from the paper and where it departs (Table 2 left and middle).
GAN_FULL_NOTES = (
    " Full scale (mnist70k): all 60,000 training digits, DCGAN's settings as Hu et al. state "
    "(Adam 2e-4, beta1 0.5, batch 128, a 100-dimensional code drawn from U(-1, 1)), Chen et "
    "al.'s MNIST networks (`--config.architecture=chen_mnist`: FC-1024 and BatchNorm layers), "
    "the evaluation classifier retrained on mnist70k; 5,000 steps (10.7 passes; Hu et al. give "
    "no length, so the fraction of theirs is unknown), scored every 1,000 steps. Departures: 3 "
    "seeds, not 5; 10,000 samples a score, not 50,000; the classifier is the project's, not a "
    "residual network. Measured before: with the project's DCGAN nets (no fully connected "
    "layers) the GAN and the IWGAN both reached an inception score of 7.27 at 12,000 steps, "
    "still rising slowly (seed 0; `full_dcgan_nets/` in the kept evidence)."
) + mixture_sanity_row(
    "the inception score of its samples 5.66 ± 0.06 (K = 300); the conditional accuracy of "
    "a mixture per class (K = 100) 0.706 ± 0.004"
)
GAN_SCALES = {
    # DCGAN at the demo's size on the 4,500 offline MNIST digits: ~3 min a run on 2 cores.
    "cpu": Scale(dataset="mnist5k", steps=3000, seeds=5),
    "full": Scale(
        dataset=mnist_full.NAME,
        steps=GAN_FULL_STEPS,
        seeds=3,
        batch_size=128,
        num_samples=10_000,
        config={**DCGAN_CODE, "architecture": CHEN_ARCHITECTURE},
        at_steps=_every_fifth(GAN_FULL_STEPS),
    ),
    # The paper: DCGAN settings on MNIST (its Section 5.1); 50,000 samples for the score.
    "paper": Scale(
        dataset="mnist", steps=20000, seeds=5, batch_size=128, num_samples=50000, config=DCGAN_CODE
    ),
}
# Full scale of Figure 1: binarised MNIST (Hu et al.'s decoders are Bernoulli over pixels; on
# binary pixels the bound is a normalised likelihood, comparable with their nats), the papers'
# 50,000 / 10,000 training / validation split, and Hu et al.'s networks: the GAN experiments'
# DCGAN generator as decoder and its discriminator as encoder and adversary (base_features 64,
# the GAN's width). ~10 min a VAE run and ~35 min an AA-VAE run on 2 idle cores (estimated).
VAE_FULL_STEPS = 15_000  # 19.2 passes over the 50,000 training digits at batch 64
# At 1% and 10% the VAE overfits long before (1%, seed 0: test bound -292 at 3,000 steps, -433
# at 15,000, validation -161, -134, -132, -133, -138 at 100-500 steps; 10%: test -107 at 3,000,
# -114 at 6,000): every run keeps a checkpoint every 200 steps and is scored on test at its
# best one on validation (with AA's tau, chosen together), and the small shares train 10 and
# 2 times as long as the 15,000-step runs' test bound says they need (3,000 and 6,000 steps).
VAE_FULL_SHARE_STEPS = {0.01: 3000, 0.1: 6000, 1.0: VAE_FULL_STEPS}
VAE_FULL_CHECKPOINT_EVERY = 200
VAE_SCALES = {
    # The conv VAE: ~1 min a run on 2 cores (AA: ~2 min).
    "cpu": Scale(dataset="mnist5k", steps=1500, seeds=3),
    "full": Scale(
        dataset=mnist_full.BINARIZED_NAME,
        steps=VAE_FULL_STEPS,
        seeds=3,
        config={"base_features": 64, "likelihood": "bernoulli"},
        validation_fraction=mnist_full.VALIDATION_SHARE,
        at_steps=_every_fifth(VAE_FULL_STEPS),
    ),
    "paper": Scale(dataset="mnist", steps=30000, seeds=5),
}


VAE_FULL_NOTES = (
    " Full scale (binarized_mnist70k, our fixed Bernoulli draw of the full MNIST, not "
    "Larochelle's file): the papers' split, the last 10,000 training digits as validation data "
    "(the temperature's), 600, 6,000 and all 50,000 of the others as training data "
    "(class-balanced: the paper's 1% and 10% of 60,000); Hu et al.'s networks (DCGAN generator as "
    "decoder with a Bernoulli output, DCGAN discriminator as encoder and adversary, base_features "
    "64); batch 64 and the project's VAE defaults (Adam 1e-3; Hu et al. give no length, optimizer "
    "or batch for the VAEs); 15,000 steps at 100% (19.2 passes of 50,000), scored every 3,000 "
    "steps. Early stopping: the small shares overfit (in 15,000-step runs, 1%: test bound -292 at "
    "3,000 steps, -433 at 15,000; 10%: -107, -145), so every run keeps a checkpoint every 200 "
    "steps and reports its test bound at the checkpoint best on validation, and the 1% and 10% "
    "runs train 3,000 and 6,000 steps; the AA arms with D choose tau and the step together, by "
    "seed 0's best validation bound (Hu et al. give no stopping rule; the chosen column gives the "
    "steps), at 1% and 10%; at 100% they run at tau = 5, the choice of every selection at 1% and "
    "10% (a departure: the 8 candidates' runs would take about 11 hours of a core). Their D "
    "sees, and eq. 16 weights, generated digits drawn from p(x|z), binary like the data "
    "(`generated_examples`, the default on binary data; runs before commit f0f84b6 showed D the "
    "generator's grey means, which it told from real digits by their grey levels alone). "
    "Departures: 50,000 digits where the paper has 60,000 at 100% (the temperature is chosen on "
    "the other 10,000); 3 seeds, not 5; tau not chosen at 100%."
) + mixture_sanity_row(
    "test NLL 177.27 ± 0.40, 147.57 ± 0.09 and 130.93 ± 0.13 nats at 1%, 10% and 100%, and "
    "of p(x | y), a mixture per class, for the CVAE, 177.62 ± 0.33, 146.59 ± 0.21 and "
    "127.65 ± 0.13"
)


def _full_share(fraction):
    """At the full scale, the share of the 50,000 training digits that gives the paper's count
    of 1% and 10% of 60,000 (600, 6,000); 100% stays the 50,000; and its run length."""
    share = min(1.0, fraction * 60_000 / 50_000)
    return {"full": {"train_fraction": share, "steps": VAE_FULL_SHARE_STEPS[fraction]}}


def _full_early_stopping(fraction):
    """At the full scale, a checkpoint every 200 steps, each scored on validation."""
    return {"full": VAE_FULL_SHARE_STEPS[fraction] // VAE_FULL_CHECKPOINT_EVERY}


# At the full scale's 100% the AA arms do not choose tau again: every selection at 1% and 10%
# chose 5, the largest of the grid (7 of 7: both AA arms with the generator's means, the AA-VAE
# with its draws at 1% and 10%, the AA-CVAE with its draws at 1%), and a candidate's run at
# 100% costs about 80 min of a core (4 candidates for each of the two panels: about 11 hours),
# so those arms run at tau = 5. A departure, stated in the notes.
FULL_TEMPERATURE_AT_100PCT = 5.0


def _aa_temperature(fraction):
    """The AA arm's tau at `fraction`: chosen on validation at every scale, but fixed at the
    full scale's 100% (FULL_TEMPERATURE_AT_100PCT); (Arm.select, Arm.scale_config)."""
    if fraction < 1.0:
        return TEMPERATURES, {}
    chosen_elsewhere = {scale: TEMPERATURES for scale in VAE_SCALES if scale != "full"}
    return chosen_elsewhere, {"full": {"temperature": FULL_TEMPERATURE_AT_100PCT}}


def _figure1(name, base_model, base_label, paper_has_values):
    panel = "left" if paper_has_values else "middle"
    arms = []
    for fraction in FRACTIONS:
        percent = f"{fraction:.0%}"
        paper = VAE_BOUNDS[fraction] if paper_has_values else ("", "")
        arms.append(
            Arm(
                f"{base_label}, {percent}",
                base_model,
                run={"train_fraction": fraction},
                scale_run=_full_share(fraction),
                paper=paper[0],
                early_stopping=_full_early_stopping(fraction),
            )
        )
        select, scale_config = _aa_temperature(fraction)
        arms.append(
            Arm(
                f"AA-{base_label}, {percent}",
                base_model,
                config={"adversary_activated": True},
                run={"train_fraction": fraction},
                scale_run=_full_share(fraction),
                paper=paper[1],
                select=select,
                scale_config=scale_config,
                early_stopping=_full_early_stopping(fraction),
            )
        )
        # Not in the paper: the control that keeps the AA arm's mixture of data and the
        # model's own draws and takes D's weights out (every example 1/2, no D), which tells
        # what the AA arm gains from training on its draws from what it gains from D.
        arms.append(
            Arm(
                f"AA-{base_label}, equal weights, {percent}",
                base_model,
                config={"adversary_activated": True, "example_weights": "equal"},
                run={"train_fraction": fraction},
                scale_run=_full_share(fraction),
                early_stopping=_full_early_stopping(fraction),
            )
        )
    return Study(
        name=name,
        title=(
            f"Hu et al. 2017 (arXiv 1706.00550), Figure 1 {panel}: test lower bound (nats, "
            f"higher is better), {base_label} vs AA-{base_label} "
            "trained on 1%, 10% and 100% of the training data"
        ),
        metric=("elbo", "elbo"),
        arms=tuple(arms),
        scales=VAE_SCALES,
        validation_fraction=0.1,
        notes=(
            "Every arm holds out a class-balanced 10% of the training split as validation data; "
            "the fractions are class-balanced shares of the rest (fixed examples, the same for "
            "every arm and seed). The AA arms with D choose tau in {1, 1.5, 3, 5} by the "
            "validation ELBO of seed 0. The equal-weights rows are a control, not the paper's: "
            "the AA arm's mixture of data and the model's own generated digits with every example "
            "weighted 1/2 and no discriminator (`--config.example_weights=equal`). The paper's "
            "figures are on full MNIST (binarised, 60,000 digits); ours on 4,050 mnist5k digits "
            "with a Bernoulli likelihood on grey levels, so only the direction and the spread can "
            "be compared, not the values."
            + ("" if paper_has_values else " The paper plots CVAE vs AA-CVAE without a table.")
            + VAE_FULL_NOTES
        ),
    )


STUDIES = (
    Study(
        name="hu2017_table2_is",
        title=(
            "Hu et al. 2017 (arXiv 1706.00550), Table 2 left: inception score of GAN vs "
            "importance weighted GAN (IWGAN, eq. 15), MNIST"
        ),
        metric=("inception_score", "mean"),
        arms=(
            Arm("GAN", "gan", paper="8.34 ± .03"),
            Arm("IWGAN", "iwgan", paper="8.45 ± .04"),
        ),
        scales=GAN_SCALES,
        notes=(
            "Scored with the project's own classifier of the scale's digits (mnist5k's at cpu "
            "scale, mnist70k's at full; the paper's residual network scores 9.09 on real MNIST "
            "test data; ours' score on real test data is printed beside). Mean ± std over "
            "seeds." + GAN_FULL_NOTES
        ),
    ),
    Study(
        name="hu2017_table2_cgan",
        title=(
            "Hu et al. 2017 (arXiv 1706.00550), Table 2 middle: accuracy of conditional "
            "generations, CGAN vs IW-CGAN, MNIST"
        ),
        metric=("conditional_accuracy", "value"),
        arms=(
            Arm("CGAN", "cgan", paper="0.985 ± .002"),
            Arm("IW-CGAN", "cgan", config={"importance_weighted": True}, paper="0.987 ± .002"),
        ),
        scales=GAN_SCALES,
        notes=(
            "Samples generated for each label in turn, classified by the project's classifier of "
            "the scale's digits (mnist5k's at cpu scale, mnist70k's at full; the paper's "
            "evaluation network: 0.990 accuracy on real test data)." + GAN_FULL_NOTES
        ),
    ),
    _figure1("hu2017_figure1_vae", "vae", "VAE", True),
    _figure1("hu2017_figure1_cvae", "cvae", "CVAE", False),
    Study(
        name="hu2017_infogan",
        title=(
            "InfoGAN (Chen et al. 2016, arXiv 1606.03657, Section 7.2; Hu et al. 2017, "
            "arXiv 1706.00550, eq. 5): accuracy of the unsupervised categorical code as a "
            "classifier of real MNIST test digits, under the best matching of code values to "
            "digits"
        ),
        metric=("classification_accuracy", "matched"),
        also=(("conditional_accuracy", "matched"), ("inception_score", "mean")),
        arms=(Arm("InfoGAN", "infogan", paper="0.95 (5% error)"),),
        scales={
            # DCGAN at the demo's size, Chen et al.'s MNIST codes (62 noise variables, a
            # 10-way code, 2 continuous codes): ~3-4 min a run on 2 shared cores.
            "cpu": Scale(dataset="mnist5k", steps=3000, seeds=3),
            # Chen et al.'s released MNIST code on all of MNIST (50,000 training digits after
            # the last 10,000 held out; scored on the 10,000 test digits), scored along training.
            # Their 5,000 updates, scored every 600: about 30 min of training a seed on 2
            # cores shared with another study, and 1 min a score. Exploration on the
            # validation digits (seed 0): matched accuracy 0.26, 0.52, 0.62, 0.71 at steps
            # 300, 600, 900, 1,200, still rising.
            "full": Scale(
                dataset=mnist_full.NAME,
                steps=5000,
                seeds=3,
                batch_size=128,
                config=CHEN_MNIST,
                validation_fraction=mnist_full.VALIDATION_SHARE,
                at_steps=tuple(range(600, 5000, 600)),
            ),
            # Chen et al.'s released MNIST launcher: batch 128, 50 epochs of 100 updates.
            "paper": Scale(dataset="mnist", steps=5000, seeds=5, batch_size=128),
        },
        notes=(
            "Chen et al. (Section 7.2): 'even if we just train InfoGAN without any label, c1 can "
            "be used as a classifier that achieves 5% error rate in classifying MNIST digits by "
            "matching each category in c1 to a digit type' (full MNIST, no spread over seeds "
            "given). Ours: Q's categorical head on the discriminator's "
            "trunk infers the code of the 500 mnist5k test digits, scored under the best "
            "one-to-one matching of the 10 code values to the 10 digits (Hungarian); beside it "
            "the same matching for generated samples (5,000 codes drawn evenly, classified by "
            "the project's classifier of the scale's digits) and the inception score of the "
            "samples (its "
            "'real' column: the score of the real test digits). cpu scale: trained on 4,500 "
            "digits instead of 60,000, with the project's DCGAN, not Chen et al.'s networks. "
            "full scale: Chen et al.'s released MNIST code (`infogan_chen`'s settings: their "
            "FC-1024 and BatchNorm networks, uniform noise, Q updated with D only; batch 128) on "
            "the 50,000 mnist70k training digits left after the last 10,000 (Chen et al.: "
            "55,000), scored on the 10,000 test digits with Q's BatchNorm running averages, "
            "at their 5,000 updates (50 'epochs' of 100 updates: 12.8 passes over the digits) "
            "and every 600 before. Sanity row, which a code that learnt nothing "
            "about the digits would not beat: k-means on the pixels (k = 10, fit on the same "
            "training digits), scored the same way: `python -m experiments.cluster_baseline "
            "--dataset=mnist70k --validation_fraction=0.1666666667` (mnist70k, 3 seeds: "
            "0.507 ± 0.045)."
        ),
    ),
)
