"""A local stand-in for a Cognito identity pool's unauthenticated identities.

The Lex Web UI holds identity-pool credentials and presigns its WebSocket URL with them;
API Gateway then tells `$connect` which Cognito identity signed. Locally, this pool hands
out the same four values (identity id, access key, secret key, session token) so the
chat page and tests can sign for real, and the gateway can look the signer up.
"""

from __future__ import annotations

import secrets
import string
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

ACCOUNT_ID = "000000000000"
UNAUTH_ROLE_NAME = "LexstreamLocalUnauthRole"
# The role-session name Cognito uses when it assumes the identity pool's role.
ROLE_SESSION_NAME = "CognitoIdentityCredentials"
ROLE_ID = "AROALEXSTREAMLOCAL0001"
_UPPER_ALNUM = string.ascii_uppercase + string.digits


@dataclass(frozen=True)
class LocalCredentials:
    """Temporary credentials for one identity, as Cognito's GetCredentialsForIdentity gives."""

    identity_id: str
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: float  # epoch seconds

    def as_json(self) -> dict[str, object]:
        """The shape the chat page receives (camelCase, expiration in epoch seconds)."""
        return {
            "identityId": self.identity_id,
            "accessKeyId": self.access_key_id,
            "secretAccessKey": self.secret_access_key,
            "sessionToken": self.session_token,
            "expiration": int(self.expiration),
        }


class LocalIdentityPool:
    """Issues and remembers unauthenticated identities and their temporary credentials.

    Args:
        region: the region prefix of identity ids (`us-east-1:<uuid>`). Default us-east-1.
        lifetime_s: how long issued credentials stay valid. Default 3600, like Cognito.
        clock: epoch-seconds clock, replaceable so expiry can be tested. Default time.time.
    """

    def __init__(
        self,
        region: str = "us-east-1",
        lifetime_s: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if lifetime_s <= 0:
            raise ValueError(f"lifetime_s must be positive, got {lifetime_s!r}")
        self.region = region
        self.pool_id = f"{region}:{uuid.uuid4()}"
        self.lifetime_s = lifetime_s
        self.clock = clock
        self._by_access_key: dict[str, LocalCredentials] = {}
        self._identities: set[str] = set()
        self._lock = threading.Lock()

    def new_identity(self) -> str:
        """A new identity id, with no credentials yet (Cognito's GetId)."""
        identity_id = f"{self.region}:{uuid.uuid4()}"
        with self._lock:
            self._identities.add(identity_id)
        return identity_id

    def issue(self, identity_id: str | None = None) -> LocalCredentials:
        """Fresh credentials for `identity_id`, or for a new identity when it is None.

        Raises ValueError when `identity_id` was never issued by this pool, because
        Cognito refuses credentials for identities it does not know.
        """
        with self._lock:
            if identity_id is None:
                identity_id = f"{self.region}:{uuid.uuid4()}"
                self._identities.add(identity_id)
            elif identity_id not in self._identities:
                raise ValueError(
                    f"unknown identity {identity_id!r}; ask for a new identity instead"
                )
            credentials = LocalCredentials(
                identity_id=identity_id,
                access_key_id="ASIA" + "".join(secrets.choice(_UPPER_ALNUM) for _ in range(16)),
                secret_access_key=secrets.token_urlsafe(30)[:40],
                session_token=secrets.token_urlsafe(96),
                expiration=self.clock() + self.lifetime_s,
            )
            self._by_access_key[credentials.access_key_id] = credentials
            return credentials

    def lookup(self, access_key_id: str) -> LocalCredentials | None:
        """The credentials behind an access key id, or None if this pool never issued it."""
        with self._lock:
            return self._by_access_key.get(access_key_id)

    def request_identity(self, credentials: LocalCredentials) -> dict[str, object]:
        """The `requestContext.identity` fields API Gateway fills for an IAM-signed caller."""
        caller = f"{ROLE_ID}:{ROLE_SESSION_NAME}"
        return {
            "accountId": ACCOUNT_ID,
            "cognitoIdentityPoolId": self.pool_id,
            "cognitoIdentityId": credentials.identity_id,
            "cognitoAuthenticationType": "unauthenticated",
            "cognitoAuthenticationProvider": None,
            "caller": caller,
            "accessKey": credentials.access_key_id,
            "user": caller,
            "userArn": (
                f"arn:aws:sts::{ACCOUNT_ID}:assumed-role/{UNAUTH_ROLE_NAME}/{ROLE_SESSION_NAME}"
            ),
        }
