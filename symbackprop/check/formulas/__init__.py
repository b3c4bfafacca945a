"""check-formulas: parse a student's gradient formulas (never evaluated) and judge them."""
