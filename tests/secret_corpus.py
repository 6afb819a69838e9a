"""A corpus of real-looking fake secrets that redaction must catch: shared by the redaction,
snapshot and record-shaping tests (tests/model, tests/compliance, tests/writer)."""

from __future__ import annotations

from typing import Any

# ------------------------------------------------------------------------------ fake secrets
# Every value here has the shape of the real thing and none of them is real.

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJkZXNrLTEiLCJzY29wZSI6InRyYWRlIiwiaWF0Ijox"
    "NzA5MzAwMDAwfQ.Vd0hM3qk1nXw8Zq2c7GfJpYt5uRb9LsKe4TaH6oWyPI"
)
BINANCE_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
BINANCE_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
BINANCE_SIG = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
AWS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_TEMP_KEY_ID = "ASIAY34FZKBOKMUTVV7A"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AWS_SESSION = "FwoGZXIvYXdzEBYaDHqa0AP1rFj0LnFAKEsessionTOKENexample8Zr2"
GH_PAT = "ghp_R7mK2xQ9vL4nT8wZ1cY6hJ3bF5dS0aPeGuWi"
GH_SERVER = "ghs_9Xk2LmN4pQ7rS1tU3vW5yZ8aB0cD2eF4gH6j"
GH_FINE = "github_pat_11ABCDE2Y0qWeRtYuIoPaS_dFgHjKlZxCvBnM1234567890qwertyuiopASDFGH"
SLACK_BOT = "xoxb-2048-731925678012-Zq4Rt8Yp2Wm6Xn0Lk3Jh5Gf7"
SLACK_HOOK = "T02ABCDEF/B05GHIJKL/q8W2e4R6t8Y0u2I4o6P8a0S2"
DISCORD_HOOK = "1198234567890123456/Xy7_Kq2LmN9pRs4TuV6wZ8aBcD0eFgH2iJkLm3No5PqRs7Tu"
TELEGRAM = "AAE7xQm2Lk9Rz4Tp8Wn3Yv6Bh1Jc5Df0Gs-_"
STRIPE_LIVE = "sk_live_51HqLyjWDarjtT1zdp7dcXfDfs9aLp8mNq4Rr"
STRIPE_RESTRICTED = "rk_live_51HqLyjWQ7m2Kp9Xv4Tz8Bn3Cd6Fg1Hj"
STRIPE_WEBHOOK = "whsec_5Tg8Kq2Lm9Nx4Rp7Vz1Wc6Yb3Hd0Jf2Ak"
GOOGLE_KEY = "AIzaSyD3kFq8Xw2Lm9Np4Rt7Vz1Bc6Yh0Jd5GsQ"
OPENAI_KEY = "sk-proj-Vq3mXz8Lk2Rt9Wn4Yp7Bh1Jc6Df0Gs5Hu2Ko8Qm4"
PEM_BODY = (
    "MIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgHcTz6sE2I2yPB",
    "aFDrBz9vFqU4yQfmqhMx0IwGcRXpR3YZzq2rN9FzXgw1mA8HjJk1LzPq7Ee9kEJD",
    "kYqLx3Tm8NwPq5Rs9Tv2Wx4Yz6Ab8Cd0Ef2Gh4Ij6Kl8Mn0Op2Qr4St6Uv8Wx0Yz",
)
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(PEM_BODY) + "\n-----END RSA PRIVATE KEY-----\n"
)
OPENSSH_BODY = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW"
OPENSSH = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\r\n"
    + OPENSSH_BODY
    + "\r\n-----END OPENSSH PRIVATE KEY-----"
)
ETH_PRIVATE = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
MNEMONIC = "abandon ability able about above absent absorb abstract absurd abuse access accident"
SEED_WORDS = "legal winner thank year wave sausage worth useful legal winner thank yellow"


CORPUS: list[tuple[str, dict[str, Any], list[str], list[str]]] = [
    # (name, data, secret substrings that must not survive, redacted paths)
    (
        "venue credentials",
        {"venue": {"name": "binance", "api_key": BINANCE_KEY, "api_secret": BINANCE_SECRET}},
        [BINANCE_KEY, BINANCE_SECRET],
        ["data.venue.api_key", "data.venue.api_secret"],
    ),
    (
        "camelCase key",
        {"apiKey": "Kq7Lm2Np9Rt4Vx8Zb1Cd"},
        ["Kq7Lm2Np9Rt4Vx8Zb1Cd"],
        ["data.apiKey"],
    ),
    ("kebab key", {"api-key": "Wd3Fg6Hj9Kl2Zx5Cv8Bn"}, ["Wd3Fg6Hj9Kl2Zx5Cv8Bn"], ["data.api-key"]),
    ("upper key", {"API_KEY": "Tr5Yu8Io1Pa4Sd7Fg0Hj"}, ["Tr5Yu8Io1Pa4Sd7Fg0Hj"], ["data.API_KEY"]),
    (
        "binance header",
        {"headers": {"X-MBX-APIKEY": BINANCE_KEY, "Content-Type": "application/json"}},
        [BINANCE_KEY],
        ["data.headers.X-MBX-APIKEY"],
    ),
    (
        "http headers",
        {
            "request": {
                "method": "POST",
                "headers": {
                    "Authorization": f"Bearer {JWT}",
                    "Cookie": "session=8f2c1d9e7a6b5c4d; csrftoken=Qm9Lk2Xz7Rt4",
                    "X-Api-Key": "Zx8Cv5Bn2Mq9Lw6Ke3Rj",
                    "Accept": "application/json",
                },
            }
        },
        [JWT, "8f2c1d9e7a6b5c4d", "Qm9Lk2Xz7Rt4", "Zx8Cv5Bn2Mq9Lw6Ke3Rj"],
        [
            "data.request.headers.Authorization",
            "data.request.headers.Cookie",
            "data.request.headers.X-Api-Key",
        ],
    ),
    (
        "okx signed request",
        {
            "headers": {
                "OK-ACCESS-KEY": "37c541a1-c5a4-4dd4-9a1b-8f1e2c3d4b5a",
                "OK-ACCESS-SIGN": "VgB6vJtqC2dXo8hJQkU0Gf1M8p5Rz3Wn2LkYe9Tm4Q0=",
                "OK-ACCESS-PASSPHRASE": "Desk1-Passphrase!2024",
                "OK-ACCESS-TIMESTAMP": "2024-03-01T14:30:05.123Z",
            }
        },
        [
            "37c541a1-c5a4-4dd4-9a1b-8f1e2c3d4b5a",
            "VgB6vJtqC2dXo8hJQkU0Gf1M8p5Rz3Wn2LkYe9Tm4Q0=",
            "Desk1-Passphrase!2024",
        ],
        [
            "data.headers.OK-ACCESS-KEY",
            "data.headers.OK-ACCESS-SIGN",
            "data.headers.OK-ACCESS-PASSPHRASE",
        ],
    ),
    (
        "kraken and bybit headers",
        {
            "kraken": {"API-Key": "kR4k3nK3yXq9Lm2Np7", "API-Sign": "Zm9vYmFyc2lnbmF0dXJlMTIz"},
            "bybit": {"X-BAPI-API-KEY": "bYb1tK3yQw8Er5Ty2U", "X-BAPI-SIGN": "9e1d5c7b3a2f4e6d"},
        },
        [
            "kR4k3nK3yXq9Lm2Np7",
            "Zm9vYmFyc2lnbmF0dXJlMTIz",
            "bYb1tK3yQw8Er5Ty2U",
            "9e1d5c7b3a2f4e6d",
        ],
        [
            "data.kraken.API-Key",
            "data.kraken.API-Sign",
            "data.bybit.X-BAPI-API-KEY",
            "data.bybit.X-BAPI-SIGN",
        ],
    ),
    (
        "coinbase sign",
        {"CB-ACCESS-SIGN": "dGhpcyBpcyBub3QgYSByZWFsIHNpZw==", "CB-ACCESS-TIMESTAMP": "1709303405"},
        ["dGhpcyBpcyBub3QgYSByZWFsIHNpZw=="],
        ["data.CB-ACCESS-SIGN"],
    ),
    (
        "deribit auth params",
        {
            "method": "public/auth",
            "params": {
                "grant_type": "client_credentials",
                "client_id": "fo7WAPRm4P",
                "client_secret": "W0H6FJW4IRPZ1MOQ8FP6KMC5RZDUUKXS",
            },
        },
        ["W0H6FJW4IRPZ1MOQ8FP6KMC5RZDUUKXS"],
        ["data.params.client_secret"],
    ),
    (
        "passwords in a list",
        {
            "accounts": [
                {"login": "desk1", "Password": "Tr@d1ng-Desk-One!"},
                {"login": "desk2", "PASSWD": "Sec0nd#Desk$2024"},
            ]
        },
        ["Tr@d1ng-Desk-One!", "Sec0nd#Desk$2024"],
        ["data.accounts[0].Password", "data.accounts[1].PASSWD"],
    ),
    (
        "credentials in a leg url",
        {
            "legs": [
                {"symbol": "BTC-USD", "qty": "0.5"},
                {"symbol": "ETH-USD", "qty": "4"},
                {"url": "https://fixuser:S3cr3tFixPw@fix.broker.example.com:9880/session"},
            ]
        },
        ["S3cr3tFixPw"],
        ["data.legs[2].url"],
    ),
    (
        "database dsn",
        {"dsn": "postgresql://trader:Tr4d3r!Pass@db.internal:5432/oms"},
        ["Tr4d3r!Pass"],
        ["data.dsn"],
    ),
    (
        "redis url",
        {"cache": "redis://:r3d1sS3cretPw@cache:6379/0"},
        ["r3d1sS3cretPw"],
        ["data.cache"],
    ),
    ("amqp url", {"bus": ["amqp://bot:Rabb1tMqPw@mq:5672/"]}, ["Rabb1tMqPw"], ["data.bus[0]"]),
    (
        "token query parameter",
        {"callback": "https://example.com/cb?token=abc123def456ghi789&x=1"},
        ["abc123def456ghi789"],
        ["data.callback"],
    ),
    (
        "binance signed query",
        {
            "request": "GET /api/v3/order?symbol=BTCUSDT&side=BUY&timestamp=1709303405000"
            f"&signature={BINANCE_SIG}"
        },
        [BINANCE_SIG],
        ["data.request"],
    ),
    (
        "bare query string",
        {"body": f"symbol=ETHUSDT&recvWindow=5000&timestamp=1709303405000&signature={BINANCE_SIG}"},
        [BINANCE_SIG],
        ["data.body"],
    ),
    (
        "sig and key parameters",
        {
            "links": [
                "https://cdn.example.com/f.csv?exp=1709&sig=Qw8Er5Ty2Ui9Op",
                "/maps?key=Lk2Jh5",
            ]
        },
        ["Qw8Er5Ty2Ui9Op", "Lk2Jh5"],
        ["data.links[0]", "data.links[1]"],
    ),
    (
        "password in a log line",
        {"msg": "connecting to risk-db with password=Hunter2-Correct-Horse retries=3"},
        ["Hunter2-Correct-Horse"],
        ["data.msg"],
    ),
    (
        "bearer in a log line",
        {"msg": "GET /v1/orders Authorization: Bearer Qk9Xm2Lp7Rz4Tn8Wv1Yb6 -> 200"},
        ["Qk9Xm2Lp7Rz4Tn8Wv1Yb6"],
        ["data.msg"],
    ),
    (
        "basic auth header and text",
        {
            "headers": {"authorization": "Basic ZGVzazE6UGFzc3cwcmQh"},
            "msg": "proxy said: Proxy-Authorization: Basic cHJveHk6U2VjcmV0UHJveHk=",
        },
        ["ZGVzazE6UGFzc3cwcmQh", "cHJveHk6U2VjcmV0UHJveHk="],
        ["data.headers.authorization", "data.msg"],
    ),
    (
        "pem private key",
        {"wallet": {"label": "hot-1", "pem": PEM}},
        list(PEM_BODY),
        ["data.wallet.pem"],
    ),
    (
        "openssh key",
        {"deploy": [{"key_material": OPENSSH}]},
        [OPENSSH_BODY],
        ["data.deploy[0].key_material"],
    ),
    (
        "private key under its key",
        {
            "eth": {
                "address": "0x52908400098527886E0F7030069857D2E4169EE7",
                "private_key": ETH_PRIVATE,
            }
        },
        [ETH_PRIVATE],
        ["data.eth.private_key"],
    ),
    (
        "aws key id in text",
        {"msg": f"uploading with {AWS_KEY_ID} to s3"},
        [AWS_KEY_ID],
        ["data.msg"],
    ),
    (
        "aws environment",
        {"env": {"AWS_ACCESS_KEY_ID": AWS_KEY_ID, "AWS_SECRET_ACCESS_KEY": AWS_SECRET}},
        [AWS_KEY_ID, AWS_SECRET],
        ["data.env.AWS_ACCESS_KEY_ID", "data.env.AWS_SECRET_ACCESS_KEY"],
    ),
    (
        "labelled aws secret in text",
        {"msg": f"loaded aws_secret_access_key = {AWS_SECRET} from profile"},
        [AWS_SECRET],
        ["data.msg"],
    ),
    (
        "sts temporary credentials",
        {
            "sts": {
                "AccessKeyId": AWS_TEMP_KEY_ID,
                "SecretAccessKey": AWS_SECRET,
                "SessionToken": AWS_SESSION,
            }
        },
        [AWS_TEMP_KEY_ID, AWS_SECRET, AWS_SESSION],
        ["data.sts.AccessKeyId", "data.sts.SecretAccessKey", "data.sts.SessionToken"],
    ),
    (
        "github token in a git url",
        {"repo": f"https://x-access-token:{GH_SERVER}@github.com/desk/strategies.git"},
        [GH_SERVER],
        ["data.repo"],
    ),
    (
        "github pat exported",
        {"cmd": f"export GITHUB_TOKEN={GH_PAT} && ./deploy.sh"},
        [GH_PAT],
        ["data.cmd"],
    ),
    ("fine-grained github pat", {"note": f"ci uses {GH_FINE}"}, [GH_FINE], ["data.note"]),
    (
        "slack bot token",
        {"alert": {"channel": "#trading", "via": SLACK_BOT}},
        [SLACK_BOT],
        ["data.alert.via"],
    ),
    (
        "slack webhook",
        {"alert": {"webhook": f"https://hooks.slack.com/services/{SLACK_HOOK}"}},
        [SLACK_HOOK],
        ["data.alert.webhook"],
    ),
    (
        "discord webhook",
        {"targets": [f"https://discord.com/api/webhooks/{DISCORD_HOOK}"]},
        [DISCORD_HOOK],
        ["data.targets[0]"],
    ),
    (
        "telegram bot url",
        {"url": f"https://api.telegram.org/bot6123456789:{TELEGRAM}/sendMessage"},
        [TELEGRAM],
        ["data.url"],
    ),
    (
        "stripe live key",
        {"billing": {"stripe": STRIPE_LIVE}},
        [STRIPE_LIVE],
        ["data.billing.stripe"],
    ),
    ("stripe restricted key", {"keys": [STRIPE_RESTRICTED]}, [STRIPE_RESTRICTED], ["data.keys[0]"]),
    ("stripe webhook secret", {"hook": STRIPE_WEBHOOK}, [STRIPE_WEBHOOK], ["data.hook"]),
    (
        "google key in a url",
        {"geo": f"https://maps.googleapis.com/maps/api/geocode/json?address=NY&key={GOOGLE_KEY}"},
        [GOOGLE_KEY],
        ["data.geo"],
    ),
    (
        "openai key",
        {"llm": {"provider": "openai", "ref": OPENAI_KEY}},
        [OPENAI_KEY],
        ["data.llm.ref"],
    ),
    ("jwt in a session field", {"session": JWT}, [JWT], ["data.session"]),
    (
        "json quoted in text",
        {"raw_body": '{"apiKey":"Rt5Yu8Io1Pa4Sd7F","symbol":"BTCUSDT","qty":"1"}'},
        ["Rt5Yu8Io1Pa4Sd7F"],
        ["data.raw_body"],
    ),
    (
        "json escaped twice in a log",
        {"msg": 'body={\\"password\\": \\"Esc4ped-Tw1ce\\", \\"user\\": \\"bob\\"}'},
        ["Esc4ped-Tw1ce"],
        ["data.msg"],
    ),
    (
        "tab before a value",
        {"msg": "refresh_token:\tRf7Tk2Lm9Xq4Wz1Np"},
        ["Rf7Tk2Lm9Xq4Wz1Np"],
        ["data.msg"],
    ),
    (
        "set-cookie line",
        {"msg": "Set-Cookie: sid=38afes7a8Qz; HttpOnly; Path=/\nnext line"},
        ["38afes7a8Qz"],
        ["data.msg"],
    ),
    (
        "mnemonic under its key",
        {"wallet": {"mnemonic": MNEMONIC}},
        [MNEMONIC],
        ["data.wallet.mnemonic"],
    ),
    (
        "seed phrase in text",
        {"msg": f"seed phrase: {SEED_WORDS}"},
        [SEED_WORDS, "winner thank"],
        ["data.msg"],
    ),
    ("numeric otp", {"auth_step": {"otp": 493817}}, ["493817"], ["data.auth_step.otp"]),
    (
        "container under a secret key",
        {"credentials": {"user": "svc-oms", "pin": "8842", "nested": ["Xy9Zq"]}},
        ["svc-oms", "8842", "Xy9Zq"],
        ["data.credentials"],
    ),
    (
        "refreshToken camel",
        {"oauth": {"refreshToken": "1//0gRt5Yu8Io"}},
        ["1//0gRt5Yu8Io"],
        ["data.oauth.refreshToken"],
    ),
    (
        "signature field",
        {"order": {"signature": "0x1b2c3d4e5f60718293a4b5c6d7e8f9"}},
        ["0x1b2c3d4e5f60718293a4b5c6d7e8f9"],
        ["data.order.signature"],
    ),
    (
        "two word label",
        {"msg": "rotated API key: Ak9Lm2Np7Qr4 for desk-2"},
        ["Ak9Lm2Np7Qr4"],
        ["data.msg"],
    ),
    (
        "tuple of strings",
        {"args": ("--venue", "kraken", "--api-secret=Tup1eS3cretVal")},
        ["Tup1eS3cretVal"],
        ["data.args[2]"],
    ),
]


def corpus_ids() -> list[str]:
    return [name for name, *_ in CORPUS]
