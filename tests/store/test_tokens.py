"""The token store's own checks, without a service: what `check()` (every request) refuses
and what the CLI may still do on a file it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradetrail.core import layout
from tradetrail.errors import ConfigError, TokenError
from tradetrail.store.tokens import TokenStore


def test_a_token_file_others_may_write_is_refused_by_check_but_can_still_be_revoked(
    tmp_path: Path,
) -> None:
    store = TokenStore(tmp_path)
    secret, made = store.create("desk", ["read"])
    assert store.check(secret).id == made.id
    (tmp_path / layout.TOKENS_FILE).chmod(0o620)
    with pytest.raises(ConfigError, match=r"writable by group or others .*chmod 600"):
        store.check(secret)
    store.revoke(made.id, "the file was opened to others")  # the way out is not blocked
    (tmp_path / layout.TOKENS_FILE).chmod(0o600)
    with pytest.raises(TokenError, match="revoked"):
        store.check(secret)
