"""`make audit`: known vulnerabilities in the installed dependencies (pip-audit), said plainly.

pip-audit asks a vulnerability service (PyPI's JSON API by default) about every installed
distribution. Where that service cannot be reached — a machine that sees only a package mirror —
pip-audit reports every dependency as skipped and exits 0; this wrapper says so loudly instead
of letting an audit that did not happen pass for a clean one. Set CANDOR_AUDIT_REQUIRED=1 to make
an audit that could not run fail the build (for a CI runner that has the network).

Exit status: 1 when a known vulnerability is found (or the audit could not run and was
required); 0 otherwise.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# Vulnerabilities examined and accepted, each with the reason; empty means none accepted.
ACCEPTED: dict[str, str] = {}


def main() -> int:
    pip_audit = Path(sys.executable).with_name("pip-audit")
    run = subprocess.run(  # noqa: S603 — our own venv's pip-audit, fixed arguments
        [str(pip_audit), "--skip-editable", "-f", "json", "--progress-spinner", "off"],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        report = json.loads(run.stdout)
    except json.JSONDecodeError:
        print(f"pip-audit failed to run:\n{run.stderr.strip()[-2000:]}", file=sys.stderr)
        return 1
    dependencies = report.get("dependencies", [])
    found = [
        (d["name"], d["version"], v["id"], v.get("fix_versions", []))
        for d in dependencies
        for v in d.get("vulns", [])
        if v["id"] not in ACCEPTED
    ]
    skipped = [d for d in dependencies if "skip_reason" in d]
    audited = len(dependencies) - len(skipped)
    for name, version, vuln, fixes in found:
        fix = f"; fixed in {', '.join(fixes)}" if fixes else ""
        print(f"VULNERABLE: {name} {version}: {vuln}{fix}", file=sys.stderr)
    if found:
        return 1
    if audited == 0:
        print(
            "WARNING: pip-audit could not reach a vulnerability service; NO dependency was "
            f"audited ({len(skipped)} skipped). Run `make audit` where PyPI's JSON API or OSV "
            "is reachable.",
            file=sys.stderr,
        )
        return 1 if os.environ.get("CANDOR_AUDIT_REQUIRED") == "1" else 0
    print(
        f"pip-audit: no known vulnerabilities in {audited} dependencies"
        + (f" ({len(skipped)} not on PyPI, not audited)" if skipped else ""),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
