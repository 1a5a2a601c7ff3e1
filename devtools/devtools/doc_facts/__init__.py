"""Facts in the Markdown docs that are generated from the code, so that they cannot go stale (issue
54): each `<!-- generated:NAME -->` … `<!-- /generated:NAME -->` block's body is rendered by
NAME's renderer (renderers.py), and `python -m devtools.doc_facts check` (`make docs-check`, part of
`make lint`) fails when a body differs from what the code says now or when a file lacks a block it
must hold (documents.REQUIRED). `write` (`make docs`) rewrites the bodies.

| module | job |
|---|---|
| `blocks` | pure: find the marked blocks of a text, rewrite their bodies |
| `documents` | which files hold which blocks (REQUIRED), the tracked Markdown files, the check and the write |
| `renderers` | block NAME → its renderer |
| `markdown` | pure: a Markdown table, its cells escaped |
| `json_path` | pure: the printer columns' simple JSONPaths evaluated on an object |
| `kubectl_get` | `kubectl get lst` as kubectl prints it for sample statuses |
| `kinds`, `webhook_events`, `cli`, `worker_roles`, `make_targets`, `kubernetes_range` | one block each |
| `refused_defaults` | one block, from docs/refused-defaults.yaml |
| `user_messages` | the strings users see (operator string literals, chart files), for the refused messages |
"""
