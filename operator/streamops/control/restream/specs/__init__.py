"""Pure builders of a Restream's children, one module per object: the pusher Pod, its worker
configuration, and the patch that makes the Restream belong to its stream."""
