"""Su 2018, "Variational Inference: A Unified Framework of Generative Models and Some
Revelations", arXiv 1807.05936, Figure 1: a DCGAN trained with and without the regulariser of
eq. 26, lambda E_z ||G(z) - G_old(z)||^2, the distance of the generator's samples to those of
the generator before the update. Su: "With our regularization, the model keeps steady";
"Without regularization, the model collapses after 25 epochs" (CelebA, one discriminator and
one generator iteration a period). Scored along training (`Scale.at_steps`): inception score
with the project's classifier, and diversity (1 - MS-SSIM)."""

from __future__ import annotations

from experiments.studies.spec import Arm, Scale, Study

ARMS = (
    Arm("DCGAN", "gan", paper="collapses after 25 epochs (Fig. 1b)"),
    # The registered su_gan: lambda = 5 and two generator updates a step (the author's code);
    # the regulariser acts on the second (see unigen_jax.models.gan).
    Arm("DCGAN + Su's regulariser (eq. 26)", "su_gan", paper="keeps steady (Fig. 1a)"),
    # The control: su_gan's two generator updates a step without the regulariser.
    Arm("DCGAN, 2 generator updates a step", "gan", config={"generator_steps": 2}),
)

SCALES = {
    # 4,050 mnist5k digits (10% held out as validation data, on which the length and the
    # network size were explored), DCGAN with base_features 16: ~71 epochs; ~25-35 steps/s
    # for the GAN on 2 shared cores, half that with two generator updates.
    "cpu": Scale(
        dataset="mnist5k",
        steps=4500,
        seeds=2,
        num_samples=2000,
        config={"base_features": 16},
        at_steps=tuple(range(750, 4500, 750)),
    ),
    # CelebA has no labels, so no classifier score: CIFAR-10, the default DCGAN (base 64),
    # ~128 epochs of its 50,000 images, scored every ~13 epochs.
    "paper": Scale(
        dataset="cifar10",
        steps=100_000,
        seeds=3,
        num_samples=5000,
        at_steps=tuple(range(10_000, 100_000, 10_000)),
    ),
}

STUDIES = (
    Study(
        name="su2018_stability",
        title=(
            "Su 2018 (arXiv 1807.05936), Figure 1: DCGAN with and without the regulariser of "
            "eq. 26, inception score and diversity along training"
        ),
        metric=("inception_score", "mean"),
        also=(("diversity", "value"),),
        arms=ARMS,
        scales=SCALES,
        validation_fraction=0.1,
        notes=(
            "Su's Figure 1 shows sample grids of a DCGAN on CelebA (no scores): without the "
            "regulariser the samples collapse after 25 epochs, with it they stay steady. The "
            "regularised arm is the registered su_gan (lambda = 5 on the [-1, 1] image scale, "
            "two generator updates a step as in the author's code, the regulariser acting on "
            "the second); the baseline is the plain DCGAN (one generator update a step, "
            "Figure 1's setting), and a control arm has su_gan's two generator updates without "
            "the regulariser. Scores: inception score with the project's mnist5k "
            "classifier, diversity = 1 - mean pairwise MS-SSIM of the samples; real test data "
            "beside. Every arm holds out 10% of the training digits as validation data."
        ),
    ),
)
