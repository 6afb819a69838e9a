"""auth.*: access to the trading system (logins, entitlements, API keys)."""

from .base import AwareDatetime, EventData

__all__ = [
    "AuthApiKeyCreated",
    "AuthApiKeyRevoked",
    "AuthLogin",
    "AuthLoginFailed",
    "AuthLogout",
    "AuthPermissionChanged",
]


class AuthLogin(EventData, kw_only=True, frozen=True):
    """A user or service logged in (who is the envelope actor); access review evidence."""

    TYPE = "auth.login"
    VERSION = 1
    method: str | None = None
    session_id: str | None = None
    remote_addr: str | None = None
    user_agent: str | None = None
    mfa: bool | None = None


class AuthLogout(EventData, kw_only=True, frozen=True):
    """A session ended, and why (user, timeout, forced)."""

    TYPE = "auth.logout"
    VERSION = 1
    session_id: str | None = None
    reason: str | None = None


class AuthLoginFailed(EventData, kw_only=True, frozen=True):
    """A failed login: the attempted user may not exist, so it is data, not the actor."""

    TYPE = "auth.login_failed"
    VERSION = 1
    reason: str
    username: str | None = None
    method: str | None = None
    remote_addr: str | None = None
    user_agent: str | None = None
    attempts: int | None = None


class AuthPermissionChanged(EventData, kw_only=True, frozen=True):
    """Entitlements of `subject` changed; the actor is who changed them."""

    TYPE = "auth.permission_changed"
    VERSION = 1
    subject: str
    granted: list[str] | None = None
    revoked: list[str] | None = None
    role: str | None = None
    old_role: str | None = None
    reason: str | None = None
    approved_by: str | None = None


class AuthApiKeyCreated(EventData, kw_only=True, frozen=True):
    """An API key was created: its id and scope, never the secret."""

    TYPE = "auth.api_key_created"
    VERSION = 1
    key_id: str
    subject: str | None = None
    permissions: list[str] | None = None
    ip_allowlist: list[str] | None = None
    expires_at: AwareDatetime | None = None


class AuthApiKeyRevoked(EventData, kw_only=True, frozen=True):
    """An API key was revoked."""

    TYPE = "auth.api_key_revoked"
    VERSION = 1
    key_id: str
    subject: str | None = None
    reason: str | None = None
