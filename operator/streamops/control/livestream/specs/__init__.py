"""Pure builders of a LiveStream's children and of the URLs its status shows, one module per object."""
