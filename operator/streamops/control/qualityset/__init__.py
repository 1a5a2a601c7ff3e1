"""QualitySet and ClusterQualitySet: their status, and the default set the operator keeps."""
