"""Coursework checking: a student's backprop code and formulas against the derivation."""
