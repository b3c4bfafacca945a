"""check-code: run a student's forward/backward in a sandbox and compare with the derivation."""
