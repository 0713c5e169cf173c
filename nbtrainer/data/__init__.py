"""Images: folders and the embedded digits, their sources and transforms, the size rule (the bottom layer)."""
