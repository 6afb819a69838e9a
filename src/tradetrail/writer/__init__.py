"""The writer: the Trail facade, its settings, the spill and the administrative events."""
