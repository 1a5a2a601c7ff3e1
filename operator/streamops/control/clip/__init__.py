"""The Clip kind's control plane: builders (its clipper Pod), reconcile, status and its loop."""
