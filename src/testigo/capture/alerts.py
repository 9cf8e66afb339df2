"""'Alert my contacts': tell a network that a recording started, with a link to follow it.

Webhooks (``TESTIGO_ALERT_WEBHOOKS`` plus those on the capture link) get a JSON POST; email goes
through ``TESTIGO_SMTP_HOST``/``TESTIGO_SMTP_PORT`` from ``TESTIGO_SMTP_FROM`` to
``TESTIGO_ALERT_EMAILS`` plus the link's addresses. Sending happens on a background thread so a
slow contact never delays a chunk; what was sent, and what failed, is ledgered.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import threading
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

from testigo import netguard
from testigo.vault import ledger
from testigo.vault.service import Vault

log = logging.getLogger(__name__)
TIMEOUT_SECONDS = 10.0


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


@dataclass
class AlertOutcome:
    sent: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def recipients(contacts: Mapping[str, Any]) -> tuple[list[str], list[str], list[str]]:
    """Webhook URLs and email addresses (the deployment's own plus the capture link's), and
    which webhooks are the deployment's own."""
    own = _split(os.environ.get("TESTIGO_ALERT_WEBHOOKS"))
    hooks = own + list(contacts.get("webhooks", []))
    mails = _split(os.environ.get("TESTIGO_ALERT_EMAILS")) + list(contacts.get("emails", []))
    return list(dict.fromkeys(hooks)), list(dict.fromkeys(mails)), own


def message(
    public_id: str, follow_url: str, started_at: str, extra: Mapping[str, Any]
) -> dict[str, Any]:
    return {
        "event": "capture.started",
        "session": public_id,
        "follow_url": follow_url,
        "started_at": started_at,
        **dict(extra),
    }


def send_alerts(
    vault: Vault,
    payload: Mapping[str, Any],
    webhooks: list[str],
    emails: list[str],
    trusted: Sequence[str] = (),
) -> AlertOutcome:
    """Send now (the caller picks the thread) and ledger the outcome.

    The deployment's own webhooks (``trusted``) may be anywhere; a link's, typed by an
    investigator, may not reach the server's own network (loopback, private, metadata addresses).
    """
    outcome = AlertOutcome()
    body = json.dumps(dict(payload)).encode("utf-8")
    for url in webhooks:
        target = f"webhook:{urlsplit(url).netloc}"
        web = netguard.opener(guarded=url not in trusted and netguard.guard_enabled())
        try:
            request = urllib.request.Request(
                url,
                data=body,
                method="POST",
                headers={"Content-Type": "application/json", "User-Agent": "testigo-capture"},
            )
            with web.open(request, timeout=TIMEOUT_SECONDS) as response:
                if not 200 <= response.status < 300:
                    raise OSError(f"HTTP {response.status}")
            outcome.sent.append(target)
        except Exception as exc:
            outcome.failed[target] = str(exc)[:200]
    host = os.environ.get("TESTIGO_SMTP_HOST", "").strip()
    if emails and not host:
        outcome.failed["email"] = "no SMTP server is configured (TESTIGO_SMTP_HOST)"
    elif emails:
        port = int(os.environ.get("TESTIGO_SMTP_PORT", "25").strip() or "25")
        sender = os.environ.get("TESTIGO_SMTP_FROM", "").strip() or "testigo@localhost"
        mail = EmailMessage()
        mail["Subject"] = "Testigo: a recording has started / Se ha iniciado una grabación"
        mail["From"] = sender
        mail["To"] = ", ".join(emails)
        mail.set_content(
            "A live recording has started. Follow it here:\n"
            f"Se ha iniciado una grabación en directo. Síguela aquí:\n\n{payload['follow_url']}\n\n"
            f"Session / Sesión: {payload['session']}\nStarted / Inicio: {payload['started_at']}\n"
        )
        try:
            with smtplib.SMTP(host, port, timeout=TIMEOUT_SECONDS) as smtp:
                smtp.send_message(mail)
            outcome.sent.extend(f"email:{m.rsplit('@', 1)[-1]}" for m in emails)
        except Exception as exc:
            outcome.failed["email"] = str(exc)[:200]
    try:
        with vault.transaction() as session:
            ledger.append_entry(
                session,
                ledger.NewEntry(
                    entry_type="capture.alert",
                    actor=f"capture:{payload['session']}",
                    subjects=[f"capture:{payload['session']}"],
                    params={"sent": outcome.sent, "failed": outcome.failed},
                ),
            )
    except Exception as exc:
        log.warning("capture alert outcome could not be ledgered: %s", exc)
    return outcome


def alert_in_background(
    vault: Vault, payload: Mapping[str, Any], contacts: Mapping[str, Any]
) -> threading.Thread | None:
    """Start sending; returns the thread (tests join it), or None when nobody is configured."""
    webhooks, emails, trusted = recipients(contacts)
    if not webhooks and not emails:
        return None
    thread = threading.Thread(
        target=send_alerts,
        args=(vault, dict(payload), webhooks, emails, trusted),
        name="testigo-capture-alert",
        daemon=True,
    )
    thread.start()
    return thread
