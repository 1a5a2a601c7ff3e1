"""Pure builders of a Recording's children, one module per object: the recorder Pod, its worker
configuration, the patch that adopts a stream's warm recorder; and what they share (names, the
effective settings, where the videos go)."""
