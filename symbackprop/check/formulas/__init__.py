"""check-formulas: parse a student's gradient formulas (never evaluated) and judge them."""

# what each exit code means, for --help and the template
EXIT_CODES = (
    "0 every formula correct; 1 a formula is wrong, not proven or missing; "
    "2 the file cannot be read or a formula is refused"
)
