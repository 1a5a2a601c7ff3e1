"""The egress guard (docs/design/egress.md): where overlay pages, webhook deliveries, pull sources and
restream targets may connect.
Tenants choose those URLs, so the product itself refuses loopback, link-local, private and the
cluster's ranges unless the admin allow-lists them, checking the address it connects to.

| module | job |
|---|---|
| `contract.egress_policy` | pure: refused addresses, the allow-list, the refusal (the renderer's config carries it) |
| `resolution` | a host name → the addresses it may connect to (resolved once, each one checked) |
| `pinning` | an HTTP request pinned to a checked address (the webhook sender's) |
| `proxy` | a local forward proxy checking every request (the overlay renderer's, the ingest's http pulls') |
| `media_destinations` | a pull URL or restream target pinned to a checked address (the name kept where needed) |
"""
