"""Renderers: printed strings and plain dataclasses -> files (trainer, LaTeX, PDF, notebook)."""
