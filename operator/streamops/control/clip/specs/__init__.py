"""Pure builders of a Clip's one child, the clipper Pod, in modules by part: its names, the
range it cuts, the clipper's configuration, the Pod."""
