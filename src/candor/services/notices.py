"""Notices: writing them with the change they announce, and delivering them by email and webhook.

Every notice is stored (its row is the notice, which the subject's file and the relying party
read). A notice may also be sent to addresses: each (channel, address) is one delivery, retried
with exponential backoff until it is delivered or, after ``CANDOR_DELIVERY_MAX_ATTEMPTS``,
marked failed — kept and listed (``candor notices list --failed``), never dropped.

``deliver_due`` claims due deliveries in a short write transaction, sends them outside any
transaction, and records the results in another (see ``candor.store.notices``): two senders at
once never send one delivery twice. A sender that dies mid-send leaves its deliveries to be
sent again after their lease, so a receiver may, rarely, get one twice: webhook receivers
de-duplicate on the ``webhook-id`` header, which stays the same across attempts.

Webhooks are signed per the Standard Webhooks spec (``webhook-id``, ``webhook-timestamp``,
``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">``). Each receiver URL has its
own signing secret, derived from the deployment secret; ``candor notices webhook-secret URL``
prints it for the operator to hand over. Deliveries carry a signature under the newest key's
secret and, after ``candor keys rotate``, under the previous one's too, so a receiver keeps
verifying until it is given the new secret.

Nothing here writes an address, a response body or an SMTP server's reply text to a log or to
``last_error``: servers quote the recipient back. Failures are named by status code or class.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import re
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from http.client import HTTPException
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import orjson
from sqlalchemy import Connection
from standardwebhooks import Webhook

from candor.domain.access import Principal, Role
from candor.domain.pseudonyms import derive_key
from candor.errors import Forbidden, InvalidInput, NotFound
from candor.services.secret import DeploymentSecret, load_secret
from candor.settings import Settings
from candor.store import Store
from candor.store import clients as client_rows
from candor.store import notices as rows
from candor.store.notices import Claimed, DeliveryRow

log = logging.getLogger("candor.notices")

CHANNELS = ("email", "webhook")
ADDRESS_MAX = 320  # notice_deliveries.address
WEBHOOK_PURPOSE = b"candor/webhook/v1|"
WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 — a prefix, not a secret
BACKOFF_CAP = timedelta(hours=6)
JITTER = 0.2  # each retry waits its delay give or take this fraction, so retries spread out
BATCH = 10  # deliveries claimed, sent and recorded together
SMTP_TIMEOUT_S = 30.0
# How long a claimed delivery is not due for anyone else: room for a batch whose every send
# waits out its timeouts (connect, then each read) before the sender records the results.
LEASE_MARGIN = timedelta(minutes=2)
EMAIL_NOT_CONFIGURED = "email is not configured"

_EMAIL = re.compile(  # ASCII only: local part of RFC 5322 atoms, a domain with a dot
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}"
    r"@(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
)
_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f]")
_jitter = random.SystemRandom()


# --- writing notices ---------------------------------------------------------------------------


def create_notice(
    conn: Connection,
    *,
    subject_id: int | None = None,
    client_id: int | None = None,
    kind: str,
    title: str,
    body: str,
    data: Mapping[str, Any],
    deliver_to: Sequence[tuple[str, str]] = (),
    now: datetime | None = None,
) -> int:
    """Store a notice for a subject or a relying party, and one pending delivery, due now, per
    (channel, address) in ``deliver_to``; return the notice's id.

    Call it inside the write transaction that makes the change the notice announces: the notice
    then exists exactly when the change was committed.

    Raises:
        InvalidInput: naming the field at fault (never repeating an address).
    """
    if (subject_id is None) == (client_id is None):
        raise InvalidInput(
            "a notice is for one subject or one relying party: give exactly one of subject_id "
            "and client_id"
        )
    if not 0 < len(kind) <= 32:
        raise InvalidInput("kind: must be 1 to 32 characters")
    if not 0 < len(title) <= 200:
        raise InvalidInput("title: must be 1 to 200 characters")
    if "\n" in title or "\r" in title:
        raise InvalidInput("title: must be one line (it is the email's subject)")
    if not body.strip():
        raise InvalidInput("body: must not be empty")
    try:
        json.dumps(data, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise InvalidInput(f"data: not representable as JSON ({type(e).__name__})") from None
    targets: list[tuple[str, str]] = []
    for i, (channel, address) in enumerate(deliver_to):
        validate_address(channel, address, field=f"deliver_to[{i}]")
        if (channel, address) not in targets:
            targets.append((channel, address))
    # And wherever the recipient asked its notices to go (``candor notices address``).
    # And wherever the recipient asked its notices to go (``candor notices address``).
    given: list[tuple[str, str]] = []
    if subject_id is not None:
        given = rows.addresses_of(conn, subject_ids=[subject_id]).get(subject_id, [])
    elif client_id is not None:
        given = rows.addresses_of(conn, client_ids=[client_id]).get(client_id, [])
    targets += [pair for pair in given if pair not in targets]
    return rows.insert_notice(
        conn,
        subject_id=subject_id,
        client_id=client_id,
        kind=kind,
        title=title,
        body=body,
        data=data,
        now=now or datetime.now(UTC),
        deliver_to=targets,
    )


def validate_address(channel: str, address: str, *, field: str = "address") -> None:
    """Refuse an unknown channel, or an address that is not an email address (channel
    ``email``) or an http(s) URL (``webhook``). Messages name ``field``, never the address."""
    if channel not in CHANNELS:
        # Not repeated either: a (channel, address) pair given the wrong way round holds an
        # address here.
        raise InvalidInput(f"{field}.channel: unknown delivery channel; expected email or webhook")
    if not isinstance(address, str) or len(address) > ADDRESS_MAX:
        raise InvalidInput(f"{field}.address: must be text of at most {ADDRESS_MAX} characters")
    if channel == "email":
        if not _EMAIL.fullmatch(address):
            raise InvalidInput(f"{field}.address: the email address is not valid")
        return
    if _UNSAFE.search(address):
        raise InvalidInput(
            f"{field}.address: the webhook URL contains spaces or control characters"
        )
    try:
        url = urlsplit(address)
        url.port  # noqa: B018 — raises ValueError on a port that is not a number in range
    except ValueError:
        raise InvalidInput(f"{field}.address: the webhook URL is not valid") from None
    if url.scheme not in ("https", "http") or not url.hostname:
        raise InvalidInput(
            f"{field}.address: the webhook URL must be an https:// (or http://) URL with a host"
        )
    if url.username is not None or url.password is not None:
        raise InvalidInput(f"{field}.address: the webhook URL must not carry credentials")


# --- what a delivery looks like to people ------------------------------------------------------


def mask_address(channel: str, address: str) -> str:
    """An address fit for lists and logs: ``z***@example.com``, ``https://host/…``."""
    if channel == "email":
        local, at, domain = address.rpartition("@")
        return f"{local[:1]}***@{domain}" if at else "***"
    try:
        url = urlsplit(address)
        port = f":{url.port}" if url.port else ""
    except ValueError:
        return "(invalid URL)"
    return f"{url.scheme}://{url.hostname}{port}/…"


@dataclass(frozen=True)
class Delivery:
    """One delivery of a notice, its address masked."""

    id: int
    notice_id: int
    kind: str
    title: str
    recipient: str  # the subject's reference, or the relying party's client name
    channel: str
    address: str  # masked
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    last_error: str | None

    @classmethod
    def of(cls, row: DeliveryRow) -> Delivery:
        return cls(
            id=row.id,
            notice_id=row.notice_id,
            kind=row.kind,
            title=row.title,
            recipient=f"subject {row.subject_ref}" if row.subject_ref else f"client {row.client}",
            channel=row.channel,
            address=mask_address(row.channel, row.address),
            status=row.status,
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
            last_attempt_at=row.last_attempt_at,
            delivered_at=row.delivered_at,
            last_error=row.last_error,
        )

    def to_json(self) -> dict[str, Any]:
        def instant(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "id": self.id,
            "notice": self.notice_id,
            "kind": self.kind,
            "title": self.title,
            "recipient": self.recipient,
            "channel": self.channel,
            "address": self.address,
            "status": self.status,
            "attempts": self.attempts,
            "next_attempt_at": instant(self.next_attempt_at),
            "last_attempt_at": instant(self.last_attempt_at),
            "delivered_at": instant(self.delivered_at),
            "last_error": self.last_error,
        }


def list_deliveries(store: Store, *, status: str | None = None, limit: int = 100) -> list[Delivery]:
    """Deliveries, newest notice first; only those in ``status`` (pending, delivered, failed)."""
    if status not in (None, rows.PENDING, rows.DELIVERED, rows.FAILED):
        raise InvalidInput("status: expected pending, delivered or failed")
    with store.read() as conn:
        return [Delivery.of(r) for r in rows.list_deliveries(conn, status=status, limit=limit)]


def failed_deliveries(store: Store, *, limit: int = 100) -> list[Delivery]:
    """Deliveries given up on after the most attempts."""
    return list_deliveries(store, status=rows.FAILED, limit=limit)


def pending_deliveries(store: Store, *, limit: int = 100) -> list[Delivery]:
    """Deliveries not yet made: due, waiting to be retried, or waiting for email to be set up."""
    return list_deliveries(store, status=rows.PENDING, limit=limit)


# --- retries -----------------------------------------------------------------------------------


def retry_delay(attempt: int, base_s: float, *, jitter: float | None = None) -> timedelta:
    """How long to wait after failed attempt ``attempt`` (1, 2, …): ``base_s`` doubled for each
    attempt before it, at most 6 hours, times 1 ± 20% (``jitter`` in [-1, 1]; random when None)."""
    spread = _jitter.uniform(-1.0, 1.0) if jitter is None else max(-1.0, min(1.0, jitter))
    delay = min(base_s * 2.0 ** min(attempt - 1, 60), BACKOFF_CAP.total_seconds())
    return timedelta(seconds=delay * (1.0 + JITTER * spread))


# --- webhook secrets ---------------------------------------------------------------------------


def _url_key(material: bytes, url: str) -> bytes:
    return derive_key(material, WEBHOOK_PURPOSE + url.encode("utf-8"))


def webhook_signing_keys(secret: DeploymentSecret, url: str) -> list[bytes]:
    """The keys a delivery to ``url`` is signed with: the newest secret key's, then the
    previous one's (so that receivers keep verifying through a key rotation)."""
    keys = sorted(secret.keys, key=lambda k: k.id, reverse=True)[:2]
    return [_url_key(k.material, url) for k in keys]


def webhook_secret(settings: Settings, url: str) -> str:
    """The signing secret of the receiver at ``url``, as Standard Webhooks writes it
    (``whsec_<base64>``), for the operator to give to the receiver."""
    validate_address("webhook", url, field="url")
    key = _url_key(load_secret(settings).current.material, url)
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(key).decode("ascii")


# --- delivering --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryReport:
    """What one ``deliver_due`` run did."""

    attempted: int
    delivered: int
    retrying: int  # attempts that failed and will be tried again
    failed: int  # deliveries given up on in this run
    waiting: int  # due email deliveries left pending because email is not configured
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "attempted": self.attempted,
            "delivered": self.delivered,
            "retrying": self.retrying,
            "failed": self.failed,
            "waiting": self.waiting,
            "seconds": round(self.seconds, 3),
        }


class SendFailed(Exception):
    """One attempt failed; ``reason`` is short and safe to store (no address, no reply text)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def email_configured(settings: Settings) -> bool:
    return bool(settings.smtp_host and settings.notice_from)


def deliver_due(
    store: Store,
    settings: Settings,
    *,
    now: datetime | None = None,
    limit: int = 1000,
    batch: int = BATCH,
    on_progress: Callable[[int], None] | None = None,
) -> DeliveryReport:
    """Attempt up to ``limit`` deliveries that are due, ``batch`` at a time: claim, send,
    record. Safe to run in several processes at once.

    Args:
        now: the time to act at (tests); by default the clock, read at each step.
        on_progress: called with the number of attempts made so far, after each.
    """
    started = time.monotonic()

    def clock() -> datetime:
        return now if now is not None else datetime.now(UTC)

    secret = load_secret(settings)  # before claiming anything: a missing secret fails at once
    channels = CHANNELS if email_configured(settings) else ("webhook",)
    waiting = 0
    if "email" not in channels:
        # Left pending, and said so on each: visible in `candor notices list --pending`, and
        # sent once email is set up. Not an attempt, so they never fail for it.
        with store.write() as conn:
            waiting = rows.note_waiting(
                conn, now=clock(), channel="email", reason=EMAIL_NOT_CONFIGURED
            )
        if waiting:
            log.warning("%d email deliveries wait: %s", waiting, EMAIL_NOT_CONFIGURED)
    timeout = max(settings.webhook_timeout_s, SMTP_TIMEOUT_S if "email" in channels else 0.0)
    outcomes: Counter[str | None] = Counter()
    attempted = 0
    while attempted < limit:
        size = min(batch, limit - attempted)
        lease = LEASE_MARGIN + timedelta(seconds=4 * timeout * size)
        with store.write() as conn:
            claim = rows.claim_due(
                conn,
                now=clock(),
                channels=channels,
                limit=size,
                lease=lease,
                max_attempts=settings.delivery_max_attempts,
            )
        outcomes[rows.FAILED] += claim.gave_up
        if not claim.claimed and not claim.gave_up:
            break
        results: list[tuple[Claimed, str | None]] = []
        try:
            # One SMTP connection a batch: never one left idle while the results are written.
            with _Mailer(settings) as mailer:
                for item in claim.claimed:
                    results.append((item, _attempt(item, mailer, secret, settings)))
                    attempted += 1
                    if on_progress is not None:
                        on_progress(attempted)
        finally:
            # Whatever stops the run, each attempt made is recorded, and the deliveries not
            # attempted are handed back, due at once.
            with store.write() as conn:
                for item, error in results:
                    outcomes[_record(conn, item, error, clock(), settings)] += 1
                for item in claim.claimed[len(results) :]:
                    rows.release(conn, item.id, item.attempts, clock())
    report = DeliveryReport(
        attempted=attempted,
        delivered=outcomes[rows.DELIVERED],
        retrying=outcomes[rows.PENDING],
        failed=outcomes[rows.FAILED],
        waiting=waiting,
        seconds=time.monotonic() - started,
    )
    if report.attempted or report.failed:
        log.info(
            "notice deliveries: %d attempted, %d delivered, %d to retry, %d failed",
            report.attempted,
            report.delivered,
            report.retrying,
            report.failed,
        )
    return report


def _attempt(
    item: Claimed, mailer: _Mailer, secret: DeploymentSecret, settings: Settings
) -> str | None:
    """Send one claimed delivery; None when it was delivered, else why not."""
    try:
        if item.channel == "email":
            try:
                message = _email(item, settings)
            except (ValueError, TypeError) as e:  # e.g. a From address the header refuses
                raise SendFailed(f"the email could not be written ({type(e).__name__})") from None
            mailer.send(message)
        else:
            _post_webhook(item, webhook_signing_keys(secret, item.address), settings)
    except SendFailed as e:
        return e.reason
    return None


def _record(
    conn: Connection, item: Claimed, error: str | None, at: datetime, settings: Settings
) -> str | None:
    """Record one attempt's result; return the delivery's status after it (None when a later
    attempt, after this one's lease ran out, had taken the delivery over)."""
    if error is None:
        return rows.DELIVERED if rows.record_delivered(conn, item.id, item.attempts, at) else None
    if item.attempts >= settings.delivery_max_attempts:
        if not rows.record_failure(conn, item.id, item.attempts, error=error, retry_at=None):
            return None
        log.warning(
            "delivery %d of notice %d (%s) failed after %d attempts: %s",
            item.id,
            item.notice.id,
            item.channel,
            item.attempts,
            error,
        )
        return rows.FAILED
    retry_at = at + retry_delay(item.attempts, settings.delivery_backoff_s)
    if not rows.record_failure(conn, item.id, item.attempts, error=error, retry_at=retry_at):
        return None
    return rows.PENDING


# --- email -------------------------------------------------------------------------------------


def _email(item: Claimed, settings: Settings) -> EmailMessage:
    assert settings.notice_from is not None  # email_configured
    message = EmailMessage()
    message["Subject"] = item.notice.title
    message["From"] = settings.notice_from
    message["To"] = item.address
    message["Date"] = format_datetime(datetime.now(UTC))
    # The domain given, so that no DNS look-up of this host's name is made for each message.
    domain = settings.notice_from.rpartition("@")[2].strip("> ") or "candor.invalid"
    message["Message-ID"] = make_msgid(f"notice-{item.notice.id}", domain=domain)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
    message.set_content(item.notice.body)
    return message


class _Mailer:
    """One SMTP connection for a run, opened at the first email and opened again after a
    failure."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> _Mailer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._close(polite=kind is None)

    def send(self, message: EmailMessage) -> None:
        try:
            if self._smtp is None:
                self._smtp = self._connect()
            self._smtp.send_message(message)
        except (smtplib.SMTPException, OSError, UnicodeError) as e:
            self._close(polite=False)
            raise SendFailed(_smtp_reason(e)) from None

    def _connect(self) -> smtplib.SMTP:
        s = self._settings
        assert s.smtp_host is not None  # email_configured
        smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=SMTP_TIMEOUT_S)
        try:
            if s.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_user:
                smtp.login(s.smtp_user, s.smtp_password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _close(self, *, polite: bool) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            if polite:
                smtp.quit()
        except (smtplib.SMTPException, OSError):
            pass
        finally:
            smtp.close()


def _smtp_reason(e: BaseException) -> str:
    """A failure as a class and, where there is one, an SMTP reply code — not the reply text,
    which quotes addresses."""
    if isinstance(e, smtplib.SMTPRecipientsRefused):
        codes = sorted({str(code) for code, _ in e.recipients.values()})
        return f"SMTPRecipientsRefused {' '.join(codes)}".strip()
    if isinstance(e, smtplib.SMTPResponseException):
        return f"{type(e).__name__} {e.smtp_code}"
    if isinstance(e, TimeoutError):
        return f"TimeoutError after {SMTP_TIMEOUT_S:g} s"
    return type(e).__name__


# --- webhooks ----------------------------------------------------------------------------------


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer other than 2xx, so a failed attempt: following it would send
    the notice to an address nobody registered."""

    def redirect_request(self, *_: Any, **__: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects())


def webhook_payload(item: Claimed) -> bytes:
    notice = item.notice
    return orjson.dumps(
        {
            "id": notice.id,
            "kind": notice.kind,
            "title": notice.title,
            "data": notice.data,
            "created_at": notice.created_at.isoformat(),
        }
    )


def _post_webhook(item: Claimed, keys: Sequence[bytes], settings: Settings) -> None:
    url = urlsplit(item.address)
    if url.scheme not in ("https", "http"):  # checked when stored; never hand urllib file://
        raise SendFailed("the webhook URL is not http(s)")
    body = webhook_payload(item)
    # Stable across attempts: receivers de-duplicate on it.
    message_id = f"notice_{item.notice.id}_{item.id}"
    # The real clock, whatever `now` the run acts at: receivers check it against theirs.
    stamp = datetime.fromtimestamp(int(time.time()), UTC)
    text = body.decode("utf-8")
    signatures = " ".join(Webhook(key).sign(message_id, stamp, text) for key in keys)
    request = urllib.request.Request(  # noqa: S310 — the scheme is checked above
        item.address,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "candor-notices/1",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(stamp.timestamp())),
            "webhook-signature": signatures,
        },
    )
    try:
        with _opener.open(request, timeout=settings.webhook_timeout_s) as response:
            status = response.status
    except urllib.error.HTTPError as e:
        e.close()
        raise SendFailed(f"HTTP {e.code}") from None
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, TimeoutError):
            raise SendFailed(f"TimeoutError after {settings.webhook_timeout_s:g} s") from None
        name = type(reason).__name__ if isinstance(reason, BaseException) else "URLError"
        raise SendFailed(name) from None
    except TimeoutError:
        raise SendFailed(f"TimeoutError after {settings.webhook_timeout_s:g} s") from None
    except (HTTPException, OSError, ValueError) as e:
        raise SendFailed(type(e).__name__) from None
    if not 200 <= status < 300:
        raise SendFailed(f"HTTP {status}")


# --- where notices go --------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipient:
    """Whose notices: a subject (by id) or a client (by name)."""

    subject_id: int | None = None
    client: str | None = None


def _recipient_ids(conn: Connection, recipient: Recipient) -> tuple[int | None, int | None]:
    if (recipient.subject_id is None) == (recipient.client is None):
        raise InvalidInput("give exactly one recipient: a subject or a client")
    if recipient.subject_id is not None:
        return recipient.subject_id, None
    found = client_rows.get_client(conn, name=recipient.client)
    if found is None:
        raise NotFound(f"no client {recipient.client!r}")
    return None, found.id


def _may_manage(principal: Principal, conn: Connection, recipient: Recipient) -> None:
    """A subject manages its own addresses, a client its own; an officer anyone's."""
    if principal.role is Role.OFFICER:
        return
    if recipient.subject_id is not None:
        principal.may_read_subject(recipient.subject_id)
        if principal.role is Role.SUBJECT:
            return
    elif recipient.client == principal.name:
        return
    raise Forbidden(f"client {principal.name!r} may not change where these notices go")


def set_address(
    store: Store,
    principal: Principal,
    recipient: Recipient,
    channel: str,
    address: str,
    *,
    remove: bool = False,
) -> bool:
    """Add (or ``remove``) an address every later notice to ``recipient`` is also sent to.
    Returns whether anything changed."""
    validate_address(channel, address)
    with store.write() as conn:
        _may_manage(principal, conn, recipient)
        subject_id, client_id = _recipient_ids(conn, recipient)
        if remove:
            return rows.remove_address(
                conn, subject_id=subject_id, client_id=client_id, channel=channel, address=address
            )
        return rows.add_address(
            conn,
            subject_id=subject_id,
            client_id=client_id,
            channel=channel,
            address=address,
            added_by=principal.name,
            now=datetime.now(UTC),
        )


def addresses(store: Store, principal: Principal, recipient: Recipient) -> list[dict[str, str]]:
    with store.read() as conn:
        _may_manage(principal, conn, recipient)
        subject_id, client_id = _recipient_ids(conn, recipient)
        if subject_id is not None:
            found = rows.addresses_of(conn, subject_ids=[subject_id]).get(subject_id, [])
        else:
            assert client_id is not None
            found = rows.addresses_of(conn, client_ids=[client_id]).get(client_id, [])
    return [{"channel": c, "address": a} for c, a in found]
