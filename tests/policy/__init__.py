"""Tests of the CrossGuard policy pack in ``policy/``.

The pack's modules live in ``policy/`` (the directory the engine runs), not in an installed
package, so that directory is put on ``sys.path`` here, before any test module imports them.
"""

import sys
from pathlib import Path

POLICY_DIR = Path(__file__).resolve().parents[2] / "policy"
if str(POLICY_DIR) not in sys.path:
    sys.path.insert(0, str(POLICY_DIR))
