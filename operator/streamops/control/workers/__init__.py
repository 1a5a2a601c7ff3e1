"""The worker Pods, whatever the kind: the Pod and its containers, resources, credentials, host
ports and NetworkPolicies; making a child match its manifest; what the operator observes of a Pod
and reads from a worker (its /status, an edge's viewers); where a stream's ingest is reached; a
Pod on a lost node. Imports no kind folder."""
