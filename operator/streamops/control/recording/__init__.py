"""Recording: recorder builders, reconciler, status function and status loop."""
