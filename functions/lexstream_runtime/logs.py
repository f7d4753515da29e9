"""One structured JSON line per decision, on stdout, where Lambda ships it to CloudWatch.

JSON lines can be searched with CloudWatch Logs Insights (`filter decision = "rejected"`)
without parsing free text.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def log_json(event: str, **fields: Any) -> None:
    """Write `{"event": event, **fields}` as one line; values that are not JSON become str."""
    print(json.dumps({"event": event, **fields}, default=str, sort_keys=False), file=sys.stdout)
