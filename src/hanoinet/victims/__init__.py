"""Victims' cases (Convention, Art. 34): images submitted as hashes for removal, followed with a number and a secret."""
