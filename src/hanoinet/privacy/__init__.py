"""The Convention's personal-data safeguards (Art. 36, Art. 40 use limitation)."""
