"""One structured JSON line per decision, on stdout, where Lambda ships it to CloudWatch.

JSON lines can be searched with CloudWatch Logs Insights (`filter decision = "rejected"`)
without parsing free text.

Cognito identity ids never reach a log line in clear: the identity id of an
unauthenticated identity is all it takes to obtain that identity's credentials from the
pool. Each one, wherever it appears in a line (an identity field, a session id that is an
identity id, an error text), becomes `identity#` and the first 12 hex digits of its
SHA-256: the same identity always gives the same tag, so lines still correlate, and the
id, 122 random bits, cannot be recovered from 48 bits of its hash.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from typing import Any

from .contract import COGNITO_IDENTITY_ID_PATTERN

IDENTITY_TAG_PREFIX = "identity#"
_IDENTITY_TAG_HEX_DIGITS = 12


def identity_tag(identity_id: str) -> str:
    """The tag that stands for `identity_id` in logs: `identity#` + 12 hex digits."""
    digest = hashlib.sha256(identity_id.encode("utf-8")).hexdigest()
    return IDENTITY_TAG_PREFIX + digest[:_IDENTITY_TAG_HEX_DIGITS]


def _tag(match: re.Match[str]) -> str:
    return identity_tag(match.group(0))


def log_json(event: str, **fields: Any) -> None:
    """Write `{"event": event, **fields}` as one line; values that are not JSON become str,
    and every Cognito identity id in the line becomes its tag."""
    line = json.dumps({"event": event, **fields}, default=str, sort_keys=False)
    # Identity ids hold only letters, digits, ':' and '-', which JSON never escapes, so
    # they can be found in the serialised line, nested values included.
    print(COGNITO_IDENTITY_ID_PATTERN.sub(_tag, line), file=sys.stdout)
