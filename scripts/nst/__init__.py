"""Batch neural style transfer (Gatys et al.): the library behind the workflow's scripts."""
