"""candor's benchmark suite: ``python -m bench [AREA …]`` (``make bench`` runs every area).

Each benchmark area is one module with an ``AREA`` (see ``bench.core.Area``) whose ``run``
returns ``Result`` rows. Speed targets are ratios against a baseline measured in the same run
on the same machine — raw driver inserts of the same rows into the same schema, for instance —
never absolute timings in unit tests. The runner prints the rows as a table, writes
``bench/results.json`` with the machine's facts, and rewrites the README's benchmark section.

To add an area: write ``bench/<area>.py`` with ``AREA = Area("<area>", "what it measures", run)``
and list it in ``bench.__main__.AREAS``. Generated inputs and scratch stores go under
``bench/work/`` (git-ignored); build them once and reuse them (``bench.inputs``).
"""
