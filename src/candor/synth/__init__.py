"""The synthetic jurisdiction: a seeded population and its sources' record files."""
