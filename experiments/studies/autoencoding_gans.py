"""GANs with an encoder on the 2-D mixtures: ALI/BiGAN (Dumoulin et al. 2016, arXiv 1606.00704;
Donahue et al. 2016, arXiv 1605.09782), Su's variant of its objective (Su 2018, arXiv
1807.05936, eq. 41) and the adversarial autoencoder (Makhzani et al. 2015, arXiv 1511.05644;
Su eqs. 30, 34), beside the GAN: modes hit and reconstruction error."""

from __future__ import annotations

from experiments.studies.spec import Arm, Scale, Study

ARMS = (
    Arm("GAN", "gan"),
    Arm("ALI (deterministic encoder, BiGAN)", "ali"),
    Arm("ALI (Gaussian encoder)", "ali", config={"stochastic_encoder": True}),
    Arm("ALI, Su's eq. 41", "ali", config={"ali_objective": "su"}),
    Arm("AAE (deterministic encoder)", "aae"),
    Arm("AAE (Gaussian encoder)", "aae", config={"stochastic_encoder": True}),
)


def _study(dataset: str, modes: int) -> Study:
    return Study(
        name=f"encoders_{dataset}",
        title=(
            f"GANs with an encoder on {dataset} ({modes} Gaussians): modes hit by samples, with "
            "ALI/BiGAN (Su 2018 eqs. 42-43; Su's eq. 41) and the AAE (Su eq. 34) beside the GAN, "
            "and their reconstruction RMSE"
        ),
        metric=("mode_coverage", "modes_hit"),
        also=(("mode_coverage", "high_quality_share"), ("rmse", "value")),
        arms=ARMS,
        scales={
            # ~20-40 s a run on 2 cores. A 2-D latent for every model: a deterministic encoder
            # of 2-D data can only fill a latent of its own dimension (its codes lie on a
            # 2-D surface that the joint discriminator tells from N(0, I) by z alone).
            "cpu": Scale(dataset=dataset, steps=20000, seeds=3, config={"latent_dim": 2}),
        },
        notes=(
            f"5,000 samples from each model's prior through its generator, against the {modes} "
            "mixture components: a mode is hit when it is the nearest mode of a high-quality "
            "sample, one within 3 standard deviations of a component (VEEGAN's rule, "
            "`eval.mode_coverage.mixture_coverage`); the high-quality share is theirs among all "
            "samples. RMSE: the test points against their "
            "reconstructions G(E(x)) (the GAN has no encoder). MLP networks of the models' "
            "default sizes, 2-D latent, batch 64. No paper tabulates these pairs; the issue "
            "asks for them beside the GAN."
        ),
    )


STUDIES = (_study("ring8", 8), _study("grid25", 25))
