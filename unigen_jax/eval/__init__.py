"""Evaluation: the project's own classifiers and metrics, each tested against an independent
computation (no Inception network can be downloaded, so scores use trained classifiers) ::

  classifier:      ConvClassifier, train/save/load; a feature extractor is any function
                   images -> (logits, features)
  sample_metrics:  inception score, FID (float64 eigendecomposition), KID, conditional accuracy
  mode_coverage:   2-D mixtures (modes hit, high-quality share), stacked MNIST (1000 modes)
  ms_ssim:         SSIM, MS-SSIM, diversity = 1 - mean pairwise MS-SSIM
  critic:          the independent Wasserstein critic (Rosca et al. 2017 §5)
  likelihood:      test ELBO, importance-weighted NLL (chunked, k up to 5000), RMSE
  bernoulli_mixture: a mixture of Bernoullis by EM, the likelihood studies' sanity baseline
  metrics:         every metric as data: when it applies, what it needs, how it computes
  runner:          evaluates a training run (used by experiments.evaluate)
"""
