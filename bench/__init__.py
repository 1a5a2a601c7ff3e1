"""The benchmarks, one module per `make bench-*` target (run from the repository's root as
`python -m bench.<module>`, which the Makefile does) plus the pieces several of them share:
report_file (results files), ts_frames (media), operator_replay (bench.operator), playback_traffic
(both playback rows). `make lint` checks that no import cycle joins them (devtools.import_rules)."""
