"""The survey's stabilisers against mode collapse, measured (Bajaj & Singh, Section 3): the GAN
beside each stabiliser alone, on the 2-D mixtures and stacked MNIST, modes hit and sample
quality; and TTUR's convergence against equal learning rates on ring8 (Heusel et al. 2017).

Stabilisers: feature matching and minibatch discrimination (Salimans et al. 2016, arXiv
1606.03498, Sections 3.1-3.2), annealed instance noise (Sønderby et al. 2016, arXiv
1610.04490; Arjovsky & Bottou 2017, arXiv 1701.04862), TTUR (Heusel et al. 2017, arXiv
1706.08500) and consensus optimisation (Mescheder et al. 2017, arXiv 1705.10461).
"""

from __future__ import annotations

from experiments.studies.spec import Arm, Scale, Study

# Steps of the mixtures' runs; instance noise anneals to zero over the first half of them.
MIXTURE_STEPS = 15000
STACKED_STEPS = 1000


def _arms(
    noise_std: float, noise_steps: int, minibatch_kernels: int, consensus: bool = True
) -> tuple[Arm, ...]:
    arms = (
        Arm("GAN", "gan"),
        Arm("+ feature matching", "gan", config={"feature_matching": True}),
        Arm(
            "+ minibatch discrimination",
            "gan",
            config={"minibatch_kernels": minibatch_kernels, "minibatch_kernel_dim": 5},
        ),
        Arm(
            "+ instance noise",
            "gan",
            config={"instance_noise": noise_std, "instance_noise_steps": noise_steps},
        ),
        Arm("+ TTUR (D 4e-4, G 1e-4)", "ttur"),
    )
    if consensus:
        arms += (Arm("+ consensus (gamma 10)", "gan", config={"consensus": 10.0}),)
    return arms


def _mixture_study(dataset: str, modes: int, seeds: int) -> Study:
    return Study(
        name=f"stabilisers_{dataset}",
        title=(
            f"GAN stabilisers on {dataset} ({modes} Gaussians): modes hit and the high-quality "
            "share of the GAN and of each stabiliser alone (the survey of Bajaj & Singh, "
            "Section 3: feature matching, minibatch discrimination, instance noise, TTUR, "
            "consensus optimisation)"
        ),
        metric=("mode_coverage", "modes_hit"),
        also=(("mode_coverage", "high_quality_share"), ("mode_coverage", "kl_to_uniform")),
        arms=_arms(noise_std=0.5, noise_steps=MIXTURE_STEPS // 2, minibatch_kernels=20),
        scales={"cpu": Scale(dataset=dataset, steps=MIXTURE_STEPS, seeds=seeds)},
        notes=(
            f"5,000 samples a run against the {modes} components: a mode is hit when it is the "
            "nearest mode of a high-quality sample, one within 3 standard deviations of a "
            "component (VEEGAN's rule, `eval.mode_coverage.mixture_coverage`); the high-quality "
            "share is theirs among all samples; KL of the hit modes' histogram to uniform. The "
            "GAN's defaults (MLP 128-128 nets, latent 64, Adam 2e-4 with beta1 0.5, batch 64, "
            f"non-saturating loss), {MIXTURE_STEPS} steps. Minibatch discrimination: 20 kernels "
            "of 5; instance noise: sigma 0.5 annealed to 0 over the first half of the run; "
            "TTUR: the registered `ttur`; consensus: gamma 10. The survey gives no numbers; "
            "its claim is that these reduce mode collapse."
        ),
    )


STACKED = Study(
    name="stabilisers_stacked_mnist",
    title=(
        "GAN stabilisers on stacked MNIST (1000 modes): modes hit and KL to uniform of the GAN "
        "and of each stabiliser alone (the survey of Bajaj & Singh, Section 3)"
    ),
    metric=("mode_coverage", "modes_hit"),
    also=(("mode_coverage", "kl_to_uniform"),),
    # Consensus optimisation left out: its double backprop through the DCGAN nets runs at about
    # 1 step/s on 2 CPU cores (17 for the GAN), beyond this scale's budget.
    arms=_arms(
        noise_std=0.1, noise_steps=STACKED_STEPS // 2, minibatch_kernels=20, consensus=False
    ),
    scales={
        "cpu": Scale(
            dataset="stacked_mnist",
            steps=STACKED_STEPS,
            seeds=2,
            num_samples=3000,
            config={"base_features": 16},
        )
    },
    notes=(
        "3,000 samples a run, each channel's digit read by the project's per-channel "
        "stacked-MNIST classifier (`experiments.train_classifier --dataset=stacked_mnist`); "
        "mode = 100 d0 + 10 d1 + d2; 3,000 samples from the uniform distribution would hit "
        "about 950 of the 1000 modes. DCGAN nets at base_features 16 (a quarter of the "
        f"default), {STACKED_STEPS} steps of batch 64, two seeds: far shorter "
        "than PacGAN's or VEEGAN's runs. Instance noise: sigma 0.1 in pixel units ([0, 1]) "
        "annealed over the first half; minibatch discrimination: 20 kernels of 5 on D's "
        "flattened features. Consensus optimisation is left out here: about 1 step/s at "
        "these sizes on 2 cores."
    ),
)

TTUR_STEPS = (1000, 5000)
TTUR_ARMS = tuple(
    Arm(f"{label}, {steps} steps", model, config=config, run={"steps": steps})
    for steps in TTUR_STEPS
    for label, model, config in (
        ("equal rates 2e-4", "gan", {}),
        ("TTUR (D 4e-4, G 1e-4)", "ttur", {}),
    )
)

TTUR = Study(
    name="ttur_ring8",
    title=(
        "TTUR against equal learning rates on ring8: modes hit and the high-quality share "
        f"after {', '.join(map(str, TTUR_STEPS))} steps (Heusel et al. 2017, arXiv 1706.08500)"
    ),
    metric=("mode_coverage", "modes_hit"),
    also=(("mode_coverage", "high_quality_share"),),
    arms=TTUR_ARMS,
    scales={"cpu": Scale(dataset="ring8", steps=MIXTURE_STEPS, seeds=2)},
    notes=(
        "Each row a training length: separate runs, not snapshots of one; the "
        f"{MIXTURE_STEPS}-step point of the GAN and TTUR is `stabilisers_ring8`'s GAN and TTUR "
        "rows (the same commands). Equal rates at the GAN's default "
        "2e-4; TTUR: D 4e-4, G 1e-4. Heusel et al. "
        "report faster and more stable convergence of the FID with TTUR on images; this is "
        "the 2-D analogue."
    ),
)

STUDIES = (
    _mixture_study("ring8", 8, seeds=2),
    _mixture_study("grid25", 25, seeds=2),
    STACKED,
    TTUR,
)
