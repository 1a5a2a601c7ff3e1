"""Where the kinds that store videos (a Recording's recorder, a Clip's clipper) put them, whatever
the kind: the namespace's default recordings claim, the storage resolved and checked before a Pod
needs it, the quotas, and retention on object storage. Imports no kind folder. (The S3 client and
credentials both the operator and the workers use are `streamops.storage`.)"""
