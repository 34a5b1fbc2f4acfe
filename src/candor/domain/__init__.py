"""candor's pure core: identifiers, the record-type registry, records and their validation.

Nothing in this package performs I/O; every function takes its inputs and returns its outputs.
"""
