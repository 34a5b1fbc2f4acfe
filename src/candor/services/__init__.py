"""Use cases: each function is one thing a user of candor does, in one transaction or a series."""
