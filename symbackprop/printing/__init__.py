"""Printers: the derivation's Program and SymPy rules as NumPy, LaTeX and plain text."""
