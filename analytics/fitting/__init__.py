"""Pure fitting code: arrays in, results out. No Django, no Celery.

Public API per fitter (inputs, fitted attributes, intervals, bands, warnings): README.md next to this file.

Estimators (`fit(...)` returns self; results in attributes ending in `_`):
  chinchilla.ChinchillaApproach3   L = E + A/N^alpha + B/D^beta, Huber on log loss, 4,500 starts, bootstrap
  power_law.PowerLawFit            L = c + k x^-a for x in {N, D, C}
  isoflop.IsoflopFit               Approach 2: tolerance-grouped budgets, parabolas over distinct sizes
  data_constrained.DataConstrainedFit   Muennighoff et al. R_D*, R_N* with profile-likelihood intervals
  kaplan.KaplanJointFit            Kaplan et al. L(N, D)
  precision.PrecisionFit, precision.PTQDegradationFit   Kumar et al. precision-aware laws
  downstream.SigmoidAccuracyFit, downstream.LadderPredictor   loss -> accuracy, OLMo-ladder two-step
  test_time.TestTimeScalingFit     accuracy vs inference FLOPs per strategy (Snell et al.)
  diffusion_ar.DiffusionVsARFit    data-constrained law per objective and the critical compute
  compute_trend.ComputeTrendFit    training compute over time (growth per year, doubling time)
Shared: errors.FitError (the one exception), intervals (Interval, Band, batched solvers),
plausibility (FitWarning and the checks), planning.plan_allocation, simulate (synthetic runs).
"""
