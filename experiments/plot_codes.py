r"""Draws the encoder-code statistics of evaluated runs side by side:
`python -m experiments.plot_codes --eval=A/eval.json,B/eval.json --labels=A,B --out=codes.png`.

Rosca et al. 2017 (arXiv 1706.04987), Appendix D, Figures 11 and 12: per latent dimension the
mean of the codes of a saved set of data (one panel row), and their correlation matrix (one
panel each), for alpha-GAN with the code discriminator against the empirical KL. Reads the
`code_statistics` entry that `experiments.evaluate` writes for a model with an encoder.
"""

from __future__ import annotations

import json

import numpy as np
from absl import flags

from experiments import _cli
from unigen_jax.errors import UserInputError

FLAGS = flags.FLAGS
flags.DEFINE_list("eval", None, "eval.json files with a code_statistics entry")
flags.DEFINE_list("labels", None, "a label for each --eval file (default: the file names)")
flags.DEFINE_string("out", "codes.png", "the PNG to write")


def load(path: str) -> dict:
    """The code statistics of one eval.json: scalars and the per-dimension arrays."""
    try:
        with open(path) as f:
            entry = json.load(f)["metrics"]["code_statistics"]
    except FileNotFoundError:
        raise UserInputError(f"--eval: no file {path}") from None
    except KeyError:
        raise UserInputError(
            f"--eval: {path} has no code_statistics (evaluate a model with an encoder with "
            "--metrics=code_statistics)"
        ) from None
    settings = entry["settings"]
    return {
        "scalars": entry["model"],
        "mean": np.asarray(settings["per_dimension_mean"]),
        "variance": np.asarray(settings["per_dimension_variance"]),
        "correlation": np.asarray(settings["correlation"]),
    }


def plot(stats: list[dict], labels: list[str], out: str) -> None:
    """Row 1: per-dimension mean (bars) and variance (dots) of each run; row 2: each run's
    correlation matrix, with its mean |off-diagonal correlation| in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(stats)
    figure, axes = plt.subplots(2, n, figsize=(4.2 * n, 7.5), squeeze=False)
    for column, (s, label) in enumerate(zip(stats, labels, strict=True)):
        ax = axes[0, column]
        dims = np.arange(len(s["mean"]))
        ax.bar(dims, s["mean"], color="tab:blue", label="mean")
        ax.plot(dims, s["variance"], ".", color="tab:red", label="variance")
        ax.axhline(0, color="black", lw=0.5)
        ax.axhline(1, color="grey", lw=0.5, ls="--")
        ax.set_title(
            f"{label}\nmean |mean| {s['scalars']['mean_abs_mean']:.3f}, "
            f"mean var {s['scalars']['mean_variance']:.3f}",
            fontsize=9,
        )
        ax.set_xlabel("latent dimension", fontsize=8)
        ax.legend(fontsize=7)
        ax = axes[1, column]
        image = ax.imshow(s["correlation"], vmin=-1, vmax=1, cmap="RdBu_r")
        ax.set_title(
            f"correlation; mean |off-diagonal| {s['scalars']['mean_abs_correlation']:.3f}",
            fontsize=9,
        )
        figure.colorbar(image, ax=ax, fraction=0.046)
    figure.tight_layout()
    figure.savefig(out, dpi=90)
    plt.close(figure)


def main(argv):
    _cli.check_no_arguments(argv)
    if not FLAGS.eval:
        raise UserInputError("--eval is required: eval.json files with code_statistics")
    labels = FLAGS.labels or FLAGS.eval
    if len(labels) != len(FLAGS.eval):
        raise UserInputError(f"--labels: {len(labels)} labels for {len(FLAGS.eval)} files")
    plot([load(path) for path in FLAGS.eval], labels, FLAGS.out)
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
    _cli.run(main)
