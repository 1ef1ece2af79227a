"""Register the Telegram webhook: `python -m channels.telegram_webhook --url https://.../webhooks/telegram/webhook`.

Sets the secret token Telegram will send back in every call, and asks only for the update
types the channel handles (messages and button presses).
"""

from __future__ import annotations

import argparse
import sys

import httpx

from channels.config import telegram_config

ALLOWED_UPDATES = ["message", "callback_query"]


def set_webhook(url: str, *, drop_pending: bool = False) -> dict:
    config = telegram_config()
    if not config.bot_token or not config.webhook_secret:
        raise SystemExit("TELEGRAM_BOT_TOKEN and TELEGRAM_WEBHOOK_SECRET must be set")
    body = {"url": url, "secret_token": config.webhook_secret, "allowed_updates": ALLOWED_UPDATES,
            "drop_pending_updates": drop_pending}
    answer = httpx.post(f"{config.api_base_url}/bot{config.bot_token}/setWebhook", json=body, timeout=15)
    return answer.json()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True, help="the public https URL of /webhooks/telegram/webhook")
    parser.add_argument("--drop-pending", action="store_true", help="discard updates Telegram still holds")
    args = parser.parse_args(argv)
    if not args.url.startswith("https://"):
        sys.stderr.write("Telegram only calls https webhooks\n")
        return 2
    result = set_webhook(args.url, drop_pending=args.drop_pending)
    sys.stdout.write(f"setWebhook: ok={result.get('ok')} {result.get('description', '')}\n")
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
