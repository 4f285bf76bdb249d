"""Property-based tests (Hypothesis): generated hostile input at every endpoint and form, never a 5xx."""
