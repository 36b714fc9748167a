"""The hash bank: perceptual hashes shared between States, and the exact matcher."""
