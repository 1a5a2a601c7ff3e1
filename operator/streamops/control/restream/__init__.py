"""Restream: pusher builders, reconciler, status function and status loop."""
