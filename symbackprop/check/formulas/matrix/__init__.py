"""check-formulas' matrix mode: a course's vectorized backprop equations, any size.

ast (the typed tree), parse and latex (the whitelist grammar), evaluate (one interpreter for
NumPy and SymPy arrays), truth (the derivation's Program as the answer), judge (verdicts,
proof, diagnoses), counterexample (a wrong line's small checked example), course (the
derivation's equations as trees, for the fixes and the documents), printer (equations in the
student's notation), check, report, template.
"""
