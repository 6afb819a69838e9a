"""Secret redaction, applied in the caller of `record()` so that no secret reaches the journal,
the spill file, the index or an export.

Two rules, case-insensitive over ASCII:

* Keys. A key is secret when its normal form (ASCII lower case without ``-``, ``_`` and spaces,
  so ``apiKey``, ``api-key`` and ``API_KEY`` are all ``apikey``) is one of
  `DEFAULT_SECRET_KEYS` (or an extra key), or *ends with* one of `SECRET_SUFFIXES`
  (``secret``, ``password``, ``token``, ``apikey``, ``signature``, ...). "Ends with" is exact,
  so ``max_tokens`` (ends in *tokens*) and ``token_symbol`` (ends in *symbol*) stay visible while
  ``exchange_api_key``, ``csrfToken`` and ``OK-ACCESS-SIGN`` are secret. On a crypto desk
  ``token`` or ``base_token`` may name a coin: exempt them with ``allow_keys``. The whole value
  under a secret key is replaced, whatever its type, at any depth and inside lists; None,
  booleans, empty strings and existing markers are kept (they hide nothing). Keys themselves
  are never rewritten.
* Value patterns. Every string is searched for secrets written in text: ``Bearer``/``Basic``
  credentials, PEM private keys, AWS access key ids, GitHub, Slack, Stripe, Google, OpenAI-style
  and Telegram tokens, JWTs, Slack/Discord webhooks, the password of
  ``scheme://user:password@host``, and ``label=value`` / ``label: value`` whose label is secret
  by the key rule (``?token=...``, ``password: hunter2``, ``"apiKey": "..."`` quoted in a log,
  ``API key: ...``) or is a query parameter named key, sig, sign, hmac or pass. Only the secret
  part is replaced, so a URL keeps its host and its other parameters.

`Redactor.may_contain_secrets()` is the hot-path filter over the canonical bytes of an event
(one byte translation, one reversal, one regex scan, all in C): it never says False when
`redact()` would change something, so almost every event skips the tree walk.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import string
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, Final

import orjson

__all__ = [
    "DEFAULT_REDACTOR",
    "DEFAULT_SECRET_KEYS",
    "MARKER",
    "QUERY_SECRET_NAMES",
    "SECRET_SUFFIXES",
    "Redactor",
    "normalise_key",
]

MARKER: Final = "[REDACTED]"
_IS_MARKER: Final = re.compile(r"\[REDACTED(?::hmac:[0-9a-f]{16})?\]")

_MAX_DEPTH: Final = 64
_KEY_CACHE_SIZE: Final = 4096
_CLEAN_CACHE_SIZE: Final = 65536
_CLEAN_MAX_CHARS: Final = 128
_FLAT_CLEAN: Final = frozenset({int, float, bool, Decimal, type(None)})  # hold no secret

DEFAULT_SECRET_KEYS: Final[frozenset[str]] = frozenset(
    {
        "api_key",
        "apikey",
        "secret",
        "secrets",
        "api_secret",
        "secret_key",
        "client_secret",
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "token",
        "access_token",
        "refresh_token",
        "id_token",
        "auth_token",
        "session_token",
        "api_token",
        "bearer_token",
        "jwt",
        "authorization",
        "proxy_authorization",
        "auth",
        "cookie",
        "set_cookie",
        "credentials",
        "private_key",
        "privkey",
        "signing_key",
        "hmac_key",
        "encryption_key",
        "secret_access_key",
        "aws_secret_access_key",
        "signature",
        "otp",
        "totp",
        "mnemonic",
        "seed_phrase",
        "recovery_phrase",
    }
)
"""Secret keys matched exactly (after normalisation)."""

SECRET_SUFFIXES: Final[tuple[str, ...]] = (
    "secret",
    "password",
    "passwd",
    "passphrase",
    "token",
    "apikey",
    "accesskey",
    "secretkey",
    "privatekey",
    "signature",
    "apisign",  # KC-API-SIGN, X-BAPI-SIGN, API-Sign
    "accesssign",  # OK-ACCESS-SIGN, CB-ACCESS-SIGN
    "authorization",
    "cookie",
)
"""Normal-form endings that make a key secret: client_secret, X-Api-Key, csrf_token, ..."""

QUERY_SECRET_NAMES: Final[frozenset[str]] = frozenset({"key", "sig", "sign", "hmac", "pass"})
"""Names too generic for the key rule that are still secret as query parameters (?key=...)."""

_MULTIWORD_ENDINGS: Final = ("cookie", "mnemonic", "phrase")
"""Labels whose unquoted value runs to the end of the line (cookie lists, seed phrases)."""

_NORMALISE: Final[dict[int, int | None]] = {
    **{ord(c): ord(c.lower()) for c in string.ascii_uppercase},
    ord("-"): None,
    ord("_"): None,
    ord(" "): None,
}


def normalise_key(key: str) -> str:
    """The form keys are compared in: ASCII lower case without ``-``, ``_`` and spaces. Only
    ASCII is folded so that the byte-level pre-check sees exactly the same letters."""
    return key.translate(_NORMALISE)


# ------------------------------------------------------------------------------ value patterns
# Each pattern replaces its group `secret` when it has one, else the whole match. All use
# re.ASCII (\s and case folding mean the same as in the byte pre-check), and each starts a match
# at most once per run of characters (look-behinds, bounded or possessive repeats), so a long
# string is scanned in linear time.
_VALUE_PATTERNS: Final[tuple[str, ...]] = (
    # Authorization schemes in any text: "Bearer eyJ...", "basic dXNlcjpwYXNz".
    r"(?<![A-Za-z0-9])(?i:bearer|basic)\s+(?P<secret>[A-Za-z0-9._~+/-]{8,}=*)",
    # PEM private keys (RSA, EC, OPENSSH, ENCRYPTED, PGP ... BLOCK); a truncated one to the end.
    r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----(?P<secret>(?s:.*?))"
    r"(?:-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----|\Z)",
    # AWS access key ids (long-term AKIA, temporary ASIA).
    r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])",
    # GitHub personal, OAuth, user-to-server, server and refresh tokens; fine-grained PATs.
    r"gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255}+",
    # Slack tokens and webhooks; Discord webhooks (alert channels).
    r"(?<![A-Za-z0-9-])xox[abposr]-[A-Za-z0-9-]{10,}+",
    r"hooks\.slack\.com/services/(?P<secret>[A-Za-z0-9/_-]+)",
    r"discord(?:app)?\.com/api/webhooks/(?P<secret>[A-Za-z0-9/_-]+)",
    # Telegram bot tokens (<bot id>:AA...), common in trading-bot alerts.
    r"(?<![0-9])[0-9]{6,12}:(?P<secret>AA[A-Za-z0-9_-]{33})",
    # Stripe secret and restricted keys, webhook signing secrets.
    r"[sr]k_(?:live|test)_[A-Za-z0-9]{10,}|whsec_[A-Za-z0-9+/=]{20,}",
    # Google API keys.
    r"AIza[0-9A-Za-z_-]{35}",
    # OpenAI / Anthropic style keys.
    r"(?<![A-Za-z0-9_-])sk-[A-Za-z0-9_-]{20,}+",
    # JSON Web Tokens (header.payload.signature, base64url of '{"').
    r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}+\.eyJ[A-Za-z0-9_-]{5,}+\.[A-Za-z0-9_-]*+",
    # The password of scheme://user:password@host (the last @ of the authority ends it).
    r"(?<=[A-Za-z0-9+.-])://[^:@/\s?#]*+:(?P<secret>[^/\s?#]+)@",
)

# label=value and label: value in text, the label being one word or two ("API key: ...",
# "seed phrase: ..."); it is judged by the key rule in Python.
_LABEL_SOURCE: Final = (
    r"(?<![A-Za-z0-9_-])([A-Za-z0-9_-]++(?: [A-Za-z0-9_-]++)?)(?:\\?[\"'])?[ \t]*([:=])"
)
_LABEL: Final = re.compile(_LABEL_SOURCE, re.ASCII)
_SCHEME: Final = re.compile(r"(?i:bearer|basic|token|digest)[ \t]+(?=[^\s])", re.ASCII)
_PLAIN_VALUE: Final = re.compile(r"[^\s\"'&,;]*", re.ASCII)
_LINE_VALUE: Final = re.compile(r"[^\r\n\"']*", re.ASCII)
_QUOTED_VALUE: Final = {
    '"': re.compile(r'[^"\r\n]*', re.ASCII),
    "'": re.compile(r"[^'\r\n]*", re.ASCII),
}


def _gate_source(source: str) -> str:
    return "(?:" + source.replace("(?P<secret>", "(?:") + ")"


_BUILTIN: Final[tuple[re.Pattern[str], ...]] = tuple(
    re.compile(source, re.ASCII) for source in _VALUE_PATTERNS
)
_GATE: Final = re.compile(
    "|".join(_gate_source(s) for s in (*_VALUE_PATTERNS, _LABEL_SOURCE)), re.ASCII
)
"""All built-in rules in one search, for the strings the byte pre-check cannot encode."""


# ------------------------------------------------------------------------ the byte pre-check
# Python's `re` only skips quickly to a match candidate when the pattern starts with one literal
# byte (an alternation of several start bytes costs ~5 ns per byte scanned). So the pre-check
# first maps every byte that can anchor a rule to one sentinel, ':' (keys end with `":`; the
# other anchors are '=', whitespace, backslashes and a few letters that every token pattern
# contains: h k x j in both cases and upper-case I), lower-cases the rest and reverses the
# result. One regex then visits only the ':' bytes: at a key's `":` it reads the key backwards,
# from the letters that decide the suffix rule, through a trie of the secret words; elsewhere
# it checks the context of the sentinel. Each alternative is a necessary condition of a rule,
# written for orjson's escaping (only ", \ and control characters are escaped), so the
# pre-check can say True wrongly but never False wrongly; the tests check this property.

_SENTINEL: Final = ord(":")
_TRANSLATE: Final = bytes(
    _SENTINEL if b in b" =\\IhHkKxXjJ" else b + 32 if 65 <= b <= 90 else b for b in range(256)
)
_SEP: Final = rb"[-_:]*+"  # separators (space is ':'), and letters that became ':'
# "The character before the token is not a letter or digit (nor - / _ -)", the look-behinds
# of the patterns, read in the reversed bytes: an escaped control character (\n, \u001f) ends
# in a letter or digit there, so those escape tails are accepted too.
_NOT_ALNUM: Final = rb"(?:(?![0-9a-z])|(?=[bfnrt]:|[0-9a-f]{4}u:))"
_NOT_ALNUM_DASH: Final = rb"(?:(?![0-9a-z-])|(?=[bfnrt]:|[0-9a-f]{4}u:))"
_NOT_WORD: Final = rb"(?:(?![0-9a-z_-])|(?=[bfnrt]:|[0-9a-f]{4}u:))"


def _unit(char: str) -> bytes | None:
    """The regex of one key character in the reversed, translated bytes, either ASCII case.
    None when every form of it became ':' (the separator run before it absorbs it)."""
    forms = {char, char.upper()} if char in string.ascii_lowercase else {char}
    literals = set()
    optional = False
    for form in forms:
        translated = orjson.dumps(form)[1:-1].translate(_TRANSLATE)[::-1]
        if translated.strip(b":"):
            literals.add(re.escape(translated))
        else:
            optional = True
    if not literals:
        return None
    unit = b"|".join(sorted(literals))
    unit = unit if len(literals) == 1 else b"(?:" + unit + b")"
    return unit + b"?" if optional else unit


def _suffix_trie(words: Iterable[str]) -> bytes:
    """A regex matching, read backwards from a key's end, any key whose normal form ends with
    one of `words`: a trie on the last letters (most keys fail on the first one or two)."""
    trie: dict[bytes, Any] = {}
    for word in sorted({w for w in words if w}, key=len):
        units = [u for u in map(_unit, reversed(word)) if u is not None]
        node = trie
        for unit in units:
            if node.get(b"") is True:
                break  # ends with a shorter word already present
            node = node.setdefault(unit, {})
        else:
            node.clear()
            node[b""] = True

    def emit(node: dict[bytes, Any]) -> bytes:
        alternatives = []
        for unit in sorted(u for u in node if u):
            child = node[unit]
            last = child.get(b"") is True
            alternatives.append(unit if last else unit + _SEP + emit(child))
        if node.get(b"") is True:
            return b""
        return b"(?:" + b"|".join(alternatives) + b")"

    return emit(trie) if trie else b"(?!)"


def _precheck_source(key_words: Iterable[str]) -> bytes:
    key_words = set(key_words)
    trie = _suffix_trie(key_words)
    query = rb"(?:ye:|g[i:]s|ng[i:]s|cam:|ssap)[?&;\"]"  # key= sig= sign= hmac= pass=
    after_run = (  # after the ':' run that starts here
        rb"[\"']?" + _SEP + b"(?:" + trie + b"|" + query + b")",  # label: value, label=value
        rb"(?:reraeb|c[i:]sab)" + _NOT_ALNUM,  # Bearer / Basic, then whitespace
        rb"etav:rp",  # PRIVATE KEY
        rb"ye\.",  # .eyJ of a JWT
    )
    # The ':' is a letter of the token; look-aheads read what precedes the token, look-behinds
    # what follows it (a letter or digit is [0-9a-z] or, for h k x j I, ':').
    tokens = (
        rb"[s:]a(?<=[0-9a-z:]{16}a:[s:]a)" + _NOT_ALNUM,  # AKIA ASIA
        rb"a(?<=[0-9a-z_:-]{16}az:a)",  # AIza
        rb"g(?<=_[pousr]:g)",  # gh?_
        rb"tig(?<=_tap_bu:tig)",  # github_pat_
        rb"w(?<=_ces:w)",  # whsec_
        rb"o:(?<=[0-9a-z:-]{10}-[abposr]:o:)" + _NOT_ALNUM_DASH,  # xox?-
        rb"oo:(?<=s:oo:)",  # hooks.slack.com, discord webhooks
        rb"[sr](?<=[0-9a-z:]{10}_(?:evil|tset)_:[sr])",  # sk_live_ rk_test_
        rb"s(?<=[0-9a-z_:-]{20}-:s)" + _NOT_WORD,  # sk-
        rb":*+(?:" + b"|".join(after_run) + b")",
        rb"(?<=/:)",  # scheme://user:password@ (any ://), and \/ from another encoder
    )
    # Timestamps put two ':' followed by digits in every event: dispatch those first, unless a
    # secret word has a digit (then a label may end in one and every path stays open).
    digits = any(c.isdigit() for word in key_words for c in word)
    first_of_run = (
        rb"[0-9](?:(?<=[0-9a-z_:-]{33}aa:[0-9])|(?<=/:[0-9]))"  # Telegram <digits>:AA, s3://
        + b"|"
        + (b"" if digits else rb"(?![0-9])")
        + b"(?:"
        + b"|".join(tokens)
        + b")"
    )
    # A key's `":` (and "label": quoted in text) reads the key backwards; any other ':' is
    # looked at only when it starts a run of ':', which keeps long runs linear.
    return b':(?:"' + _SEP + trie + rb"|(?!\")(?<!::)(?:" + first_of_run + b"))"


# -------------------------------------------------------------------------------- redactor


class Redactor:
    """Finds and replaces secrets in event values; immutable after construction, thread-safe.

    `extra_keys` are added to the secret keys (exact match after normalisation), `allow_keys`
    are never secret, `extra_patterns` are added to the value patterns (their group ``secret``
    is replaced if they have one, else the whole match). With `fingerprint_key`, markers carry a
    keyed hash of the secret so the same secret can be correlated across events.
    """

    def __init__(
        self,
        *,
        extra_keys: Iterable[str] = (),
        extra_patterns: Iterable[str | re.Pattern[str]] = (),
        allow_keys: Iterable[str] = (),
        fingerprint_key: bytes | None = None,
    ) -> None:
        if isinstance(extra_keys, str) or isinstance(allow_keys, str):
            raise TypeError("extra_keys and allow_keys take an iterable of keys, not one str")
        if fingerprint_key is not None and not isinstance(fingerprint_key, bytes | bytearray):
            raise TypeError("fingerprint_key must be bytes")
        self._exact = frozenset(normalise_key(k) for k in (*DEFAULT_SECRET_KEYS, *extra_keys))
        self._exact -= {""}
        self._allow = frozenset(normalise_key(k) for k in allow_keys)
        self._fingerprint_key = bytes(fingerprint_key) if fingerprint_key is not None else None
        self._extra: tuple[re.Pattern[str], ...] = tuple(
            p if isinstance(p, re.Pattern) else re.compile(p) for p in extra_patterns
        )
        self._patterns = _BUILTIN + self._extra
        self._key_cache: dict[str, bool] = {}
        self._clean_strings: set[str] = set()
        self._plain_keys: set[str] = set()  # keys known not secret (known_clean's fast path)
        self._precheck = re.compile(_precheck_source(self._exact | set(SECRET_SUFFIXES))).search

    # ---------------------------------------------------------------- classification

    @property
    def builtin_patterns_only(self) -> bool:
        """Whether every value rule is a built-in one, which the writer's compiled shaper
        (core.fastshape) knows the necessary fragments of; extra patterns can match anything,
        and a subclass may judge otherwise."""
        return not self._extra and type(self) is Redactor

    def is_secret_key(self, key: str) -> bool:
        """Whether the value under `key` is replaced whole (cached: keys repeat)."""
        known = self._key_cache.get(key)
        if known is None:
            known = self._is_secret_normal_form(normalise_key(key))
            if len(self._key_cache) < _KEY_CACHE_SIZE:
                self._key_cache[key] = known
        return known

    def _is_secret_normal_form(self, norm: str) -> bool:
        return norm not in self._allow and (norm in self._exact or norm.endswith(SECRET_SUFFIXES))

    def unseen_strings(
        self,
        fields: Mapping[str, Any],
        out: list[str],
        skip: object = None,
        trusted: frozenset[str] = frozenset(),
    ) -> bool:
        """The fast path of flat events: False when `fields` has a secret key or a value that is
        not flat (then the whole event goes through the byte pre-check); else True, with the
        strings not yet known clean appended to `out` for `strings_clean()`. Symbols, accounts,
        venues and order types repeat from event to event, so most fields cost nothing in
        Python. `skip` is a value known clean already (the trail's redacted default source);
        the values of `trusted` keys have a checked format that cannot hold a secret."""
        clean = self._clean_strings
        if self._plain_keys.issuperset(fields):
            try:
                unknown = set(fields.values()).difference(clean)
            except TypeError:  # an unhashable value: look at each one below
                pass
            else:
                for value in unknown:
                    if value.__class__ is str:
                        out.append(value)
                    elif value.__class__ not in _FLAT_CLEAN and value is not skip:
                        break
                else:
                    return True
        for key, value in fields.items():
            if key in trusted:
                continue
            if self.is_secret_key(key):
                if value is None or value is True or value is False or value == "":
                    continue
                return False
            if len(self._plain_keys) < _KEY_CACHE_SIZE:
                self._plain_keys.add(key)
            if value.__class__ is str:
                if value not in clean:
                    out.append(value)
            elif value.__class__ not in _FLAT_CLEAN and value is not skip:
                return False
        return True

    def strings_clean(self, strings: list[str]) -> bool:
        """One byte pre-check over all the `strings` (as a JSON list); those found clean are
        remembered (bounded) so the next events skip them."""
        if not strings:
            return True
        try:
            encoded = orjson.dumps(strings)
        except orjson.JSONEncodeError:  # a lone surrogate: let the full path handle it
            return False
        if self.may_contain_secrets(encoded):
            return False
        clean = self._clean_strings
        if len(clean) >= _CLEAN_CACHE_SIZE:
            clean.clear()
        clean.update(s for s in strings if len(s) <= _CLEAN_MAX_CHARS)
        return True

    def may_contain_secrets(self, encoded: bytes) -> bool:
        """Fast pre-check over the canonical JSON bytes of an event: False means `redact()`
        would change nothing. False positives are possible, false negatives are not.

        One translation, one reversal and one regex search, all in C (see the notes above the
        pre-check). Extra patterns cannot be reasoned about at the byte level, so with them a
        miss of the fast scan is confirmed by parsing the JSON and searching its strings."""
        scratch = bytearray(encoded)  # reversing in place beats a [::-1] slice
        scratch.reverse()
        if self._precheck(scratch.translate(_TRANSLATE)) is not None:
            return True
        if self._extra:
            try:
                return self._extra_in(orjson.loads(encoded))
            except orjson.JSONDecodeError:
                return True
        return False

    def _extra_in(self, value: Any) -> bool:
        if isinstance(value, str):
            return any(p.search(value) is not None for p in self._extra)
        if isinstance(value, dict):
            return any(self._extra_in(v) for v in value.values())
        if isinstance(value, list):
            return any(self._extra_in(v) for v in value)
        return False

    # ---------------------------------------------------------------------- markers

    def marker(self, secret: str) -> str:
        """The replacement text: MARKER, or with a fingerprint key
        ``[REDACTED:hmac:<16 hex>]`` (HMAC-SHA256), stable per secret and not reversible."""
        if self._fingerprint_key is None:
            return MARKER
        digest = hmac.new(
            self._fingerprint_key, secret.encode("utf-8", "surrogatepass"), hashlib.sha256
        ).hexdigest()
        return f"[REDACTED:hmac:{digest[:16]}]"

    def _marker_for(self, value: Any) -> str:
        if self._fingerprint_key is None:
            return MARKER
        if isinstance(value, str):
            return self.marker(value)
        try:  # a container or number under a secret key: fingerprint its canonical JSON
            text = orjson.dumps(value, default=str, option=orjson.OPT_SORT_KEYS).decode()
        except (TypeError, orjson.JSONEncodeError):
            text = repr(value)
        return self.marker(text)

    # ---------------------------------------------------------------------- redaction

    def redact(self, value: Any, path: str) -> tuple[Any, list[str]]:
        """A redacted copy of `value` (containers copied only where something changed, so an
        untouched value is returned as is) and the redacted paths, such as
        ``data.venue.api_key``, ``data.legs[2].url`` or ``actor``; `path` names `value`."""
        paths: list[str] = []
        return self._walk(value, path, paths, 0), paths

    def _walk(self, value: Any, path: str, paths: list[str], depth: int) -> Any:
        kind = type(value)
        if kind is str:
            new = self.redact_text(value)
            if new is not value:
                paths.append(path)
            return new
        if kind is int or kind is float or kind is bool or value is None:
            return value
        if depth >= _MAX_DEPTH:
            raise ValueError(f"{path}: nested deeper than {_MAX_DEPTH} levels")
        if isinstance(value, Mapping):
            copy: dict[Any, Any] | None = None
            for key, item in value.items():
                if isinstance(key, str) and self.is_secret_key(key):
                    if (
                        item is None
                        or item is True
                        or item is False
                        or (isinstance(item, str) and (not item or _IS_MARKER.fullmatch(item)))
                    ):
                        continue  # nothing to hide, or redacted already
                    new = self._marker_for(item)
                    paths.append(f"{path}.{key}")
                elif type(item) is str:  # the common leaf, inline: no path unless it changes
                    new = self.redact_text(item)
                    if new is item:
                        continue
                    paths.append(f"{path}.{key}")
                else:
                    new = self._walk(item, f"{path}.{key}", paths, depth + 1)
                    if new is item:
                        continue
                if copy is None:
                    copy = dict(value)
                copy[key] = new
            return value if copy is None else copy
        if kind is list or kind is tuple:
            items: list[Any] | None = None
            for i, item in enumerate(value):
                new = self._walk(item, f"{path}[{i}]", paths, depth + 1)
                if new is not item:
                    if items is None:
                        items = list(value)
                    items[i] = new
            if items is None:
                return value
            return items if kind is list else tuple(items)
        if isinstance(value, str):  # a str subclass (StrEnum): redacted to a plain str
            new = self.redact_text(value)
            if new != value:
                paths.append(path)
                return new
        return value

    def redact_text(self, text: str) -> str:
        """`text` with the secret parts replaced by markers; the same object if none."""
        if not self._text_may_hold(text):
            return text
        return self._replace_secrets(text)

    def _text_may_hold(self, text: str) -> bool:
        """The byte pre-check applied to one string: a few hundred ns whatever its length,
        where searching it with every pattern costs ~0.2 us per character."""
        if self._extra and any(p.search(text) for p in self._extra):
            return True
        try:
            scratch = bytearray(orjson.dumps(text))
        except orjson.JSONEncodeError:  # a lone surrogate: orjson refuses it, re does not
            return _GATE.search(text) is not None
        scratch.reverse()
        return self._precheck(scratch.translate(_TRANSLATE)) is not None

    def _replace_secrets(self, text: str) -> str:
        spans: list[tuple[int, int]] = []
        for pattern in self._patterns:
            group: int | str = "secret" if "secret" in pattern.groupindex else 0
            for match in pattern.finditer(text):
                start, end = match.span(group)
                if end > start:
                    spans.append((start, end))
        self._label_spans(text, spans)
        if not spans:
            return text
        spans.sort()
        parts: list[str] = []
        pos = 0
        cur_start, cur_end = spans[0]
        for start, end in spans[1:]:
            if start <= cur_end:  # overlapping or touching: one marker
                cur_end = max(cur_end, end)
                continue
            parts += (text[pos:cur_start], self._span_marker(text[cur_start:cur_end]))
            pos = cur_end
            cur_start, cur_end = start, end
        parts += (text[pos:cur_start], self._span_marker(text[cur_start:cur_end]), text[cur_end:])
        result = "".join(parts)
        return text if result == text else result

    def _span_marker(self, secret: str) -> str:
        return secret if _IS_MARKER.fullmatch(secret) else self.marker(secret)

    def _label_spans(self, text: str, spans: list[tuple[int, int]]) -> None:
        """Values of `label=value` / `label: value` whose label is secret."""
        pos = 0
        search = _LABEL.search
        while (match := search(text, pos)) is not None:
            pos = match.end()
            label, sep = match.group(1), match.group(2)
            norm = normalise_key(label)  # not cached: labels in free text do not repeat
            if " " in label and not self._is_secret_normal_form(norm):
                label = label.rpartition(" ")[2]  # "basic auth:" is secret as "auth:" is
                norm = normalise_key(label)
            if not self._is_secret_normal_form(norm):
                start = match.end(1) - len(label)
                if not (  # a query parameter: exactly key=, sig=, ... after ? & ; or first
                    sep == "="
                    and label.lower() in QUERY_SECRET_NAMES
                    and norm not in self._allow
                    and (start == 0 or text[start - 1] in "?&;")
                ):
                    continue  # the value may hold another label: scan on from the separator
            multiword = norm.endswith(_MULTIWORD_ENDINGS)
            span = _value_span(text, pos, multiword)
            if span[1] > span[0]:
                spans.append(span)
                pos = max(pos, span[1])  # the value is replaced whole: resume after it


def _value_span(text: str, pos: int, multiword: bool) -> tuple[int, int]:
    """Where the value after a label's ':' or '=' starts and ends: a quoted value to its
    closing quote, else one token (after an auth scheme), or the rest of the line."""
    n = len(text)
    while pos < n and text[pos] in " \t":
        pos += 1
    if pos + 1 < n and text[pos] == "\\" and text[pos + 1] in "\"'":
        pos += 1
    if pos < n and text[pos] in "\"'":
        quote = text[pos]
        quoted = _QUOTED_VALUE[quote].match(text, pos + 1)
        assert quoted is not None  # matches the empty string
        end = quoted.end()
        if end < n and text[end] == quote and text[end - 1] == "\\":
            end -= 1  # the closing quote of JSON quoted inside the text: \"
        return pos + 1, end
    scheme = _SCHEME.match(text, pos)
    if scheme is not None:
        pos = scheme.end()
    value = (_LINE_VALUE if multiword else _PLAIN_VALUE).match(text, pos)
    assert value is not None  # both patterns match the empty string
    return pos, value.end()


DEFAULT_REDACTOR: Final = Redactor()
"""The redactor `record()` uses unless configured otherwise."""
