"""Notices: stored with the change they announce, delivered by email (a real SMTP server) and by
signed webhook (a real HTTP server), retried with backoff, failed deliveries kept and listed;
two senders at once never send a delivery twice. On SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import dataclasses
import email
import email.policy
import hashlib
import hmac
import ipaddress
import json
import socket
import ssl
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from standardwebhooks import Webhook
from typer.testing import CliRunner

from candor.cli import app
from candor.domain.access import Role
from candor.errors import InvalidInput
from candor.services import notices
from candor.services.clients import add_client
from candor.services.ingestion import ingest_objects
from candor.services.registry import load_registry
from candor.services.secret import load_secret
from candor.services.sources import add_source
from candor.settings import Settings
from candor.store import Store, open_store
from candor.store import notices as notice_rows
from candor.store.tables import notice_deliveries, subjects
from candor.store.tables import notices as notices_table
from tests.helpers import record_object, resident_id

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
TITLE = "关于您的信用记录的通知 — a record about you was accepted"
BODY = "A court record about you was accepted on 2026-11-23.\nYou may object until 2026-12-23.\n"
DATA = {"record": "r1", "accepted_on": "2026-11-23", "object_until": "2026-12-23"}
EMAIL = "zhang.san@example.com"
FROM = "notices@credit.example.gov"
RIGHT, WRONG = "s3cret", "wrong"  # the test SMTP server's login


# --- real servers ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Receiver(ThreadingHTTPServer):
    """A webhook receiver: keeps what it is sent, answers with the statuses it is given (then
    200), and when ``hold`` is clear, answers only once it is set."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        self.hold = threading.Event()
        self.hold.set()
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/candor"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a sender that timed out closed its end: nothing to report


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.server.lock:
            self.server.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            status = self.server.statuses.pop(0) if self.server.statuses else 200
        self.server.hold.wait(30)
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"no")  # never stored: only the status counts

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.hold.set()
    server.shutdown()
    server.server_close()


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, email.message.EmailMessage)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1; yields it and its port."""
    box, port = Mailbox(), _free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


# --- a deployment with someone to tell ---------------------------------------------------------


@pytest.fixture
def subject_id(store: Store, settings: Settings) -> int:
    registry = load_registry(settings)
    add_source(store, registry, "utility", ["utility.late_fees"])
    row = record_object(
        "r1", resident_id(1), "utility.late_fees", "2026-11-01", attributes={"amount": "10.00"}
    )
    result = ingest_objects(store, settings, registry, "utility", [row], today=date(2026, 11, 23))
    assert result.accepted == 1, result.rejects
    with store.read() as conn:
        return int(conn.execute(sa.select(subjects.c.id)).scalar_one())


@pytest.fixture
def client_id(store: Store) -> int:
    return add_client(store, "bank-a", Role.OFFICER).client.id


def _notice(store: Store, subject_id: int, *deliver_to: tuple[str, str]) -> int:
    with store.write() as conn:
        return notices.create_notice(
            conn,
            subject_id=subject_id,
            kind="record_accepted",
            title=TITLE,
            body=BODY,
            data=DATA,
            deliver_to=deliver_to,
            now=T0,
        )


def _deliveries(store: Store) -> list[Any]:
    with store.read() as conn:
        return list(conn.execute(sa.select(notice_deliveries).order_by(notice_deliveries.c.id)))


def _with_email(settings: Settings, port: int, **more: Any) -> Settings:
    plain = {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_starttls": False}
    return dataclasses.replace(settings, **(plain | {"notice_from": FROM} | more))


# --- storing -----------------------------------------------------------------------------------


def test_a_notice_is_stored_with_its_deliveries_due_at_once(store: Store, subject_id: int) -> None:
    notice_id = _notice(store, subject_id, ("email", EMAIL), ("webhook", "https://bank.example/h"))
    with store.read() as conn:
        notice = notice_rows.get_notice(conn, notice_id)
    assert notice is not None
    assert (notice.subject_id, notice.client_id, notice.kind) == (
        subject_id,
        None,
        "record_accepted",
    )
    assert (notice.title, notice.body, notice.data, notice.created_at) == (TITLE, BODY, DATA, T0)
    deliveries = _deliveries(store)
    assert [(d.channel, d.address, d.status, d.attempts) for d in deliveries] == [
        ("email", EMAIL, "pending", 0),
        ("webhook", "https://bank.example/h", "pending", 0),
    ]
    assert {d.next_attempt_at for d in deliveries} == {T0}


def test_a_notice_exists_only_if_the_change_it_announces_commits(
    store: Store, subject_id: int
) -> None:
    with pytest.raises(RuntimeError), store.write() as conn:
        notices.create_notice(
            conn,
            subject_id=subject_id,
            kind="listing_pending",
            title="t",
            body="b",
            data={},
            deliver_to=[("email", EMAIL)],
        )
        raise RuntimeError("the change failed after the notice was written")
    assert _deliveries(store) == []
    assert notices.list_deliveries(store) == []


BAD_TARGETS = [
    (("sms", EMAIL), "deliver_to[0].channel: unknown delivery channel; expected email or webhook"),
    ((EMAIL, "email"), "deliver_to[0].channel: unknown delivery channel"),  # the wrong way round
    (("email", EMAIL + "\n"), "the email address is not valid"),
    (("email", "zhang.san@@example.com"), "deliver_to[0].address: the email address is not valid"),
    (("email", "zhang san@example.com"), "the email address is not valid"),
    (("email", "zhang.san@localhost"), "the email address is not valid"),
    (("webhook", "ftp://bank.example/zhang.san"), "must be an https:// (or http://) URL"),
    (("webhook", "https://zhang:pw@bank.example/"), "must not carry credentials"),
    (("webhook", "https://bank.example/a b"), "contains spaces or control characters"),
    (("webhook", "https://bank.example:99999/zhang"), "the webhook URL is not valid"),
    (("webhook", "https://bank.example/" + "z" * 400), "at most 320 characters"),
]


@pytest.mark.parametrize(("target", "message"), BAD_TARGETS)
def test_a_bad_channel_or_address_is_refused_without_repeating_it(
    target: tuple[str, str], message: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        notices.validate_address(*target, field="deliver_to[0]")
    assert message in refused.value.detail
    assert "zhang" not in refused.value.detail  # neither the address nor any part of it


def test_a_notice_with_a_bad_address_is_not_stored(store: Store, subject_id: int) -> None:
    with pytest.raises(InvalidInput) as refused, store.write() as conn:
        notices.create_notice(
            conn,
            subject_id=subject_id,
            kind="record_accepted",
            title=TITLE,
            body=BODY,
            data=DATA,
            deliver_to=[("webhook", "https://bank.example/h"), ("email", "zhang.san@")],
        )
    assert refused.value.detail == "deliver_to[1].address: the email address is not valid"
    assert _deliveries(store) == []
    with store.read() as conn:  # (the fixture's ingestion told the subject of its record)
        kinds = conn.execute(sa.select(notices_table.c.kind)).scalars().all()
    assert "record_accepted" not in kinds


def test_a_notice_is_for_exactly_one_subject_or_relying_party(
    store: Store, subject_id: int, client_id: int
) -> None:
    for who in ({}, {"subject_id": subject_id, "client_id": client_id}):
        with (
            pytest.raises(InvalidInput, match="exactly one of subject_id and client_id"),
            store.write() as conn,
        ):
            notices.create_notice(conn, kind="k", title="t", body="b", data={}, **who)
    with pytest.raises(InvalidInput, match="title: must be one line"), store.write() as conn:
        notices.create_notice(
            conn, client_id=client_id, kind="k", title="a\nBcc: x", body="b", data={}
        )
    with store.write() as conn:
        notices.create_notice(
            conn, client_id=client_id, kind="answer_changed", title="t", body="b", data={}
        )
    with store.read() as conn, pytest.raises(sa.exc.IntegrityError):
        # The store refuses it too, whoever writes.
        conn.execute(
            sa.insert(notice_rows.notices).values(
                kind="k", title="t", body="b", data={}, created_at=T0
            )
        )


# --- email -------------------------------------------------------------------------------------


def test_an_email_notice_reaches_a_real_smtp_server(
    store: Store, settings: Settings, subject_id: int, mailbox: tuple[Mailbox, int]
) -> None:
    box, port = mailbox
    notice_id = _notice(store, subject_id, ("email", EMAIL))
    report = notices.deliver_due(store, _with_email(settings, port), now=T0)
    assert report.to_json() | {"seconds": 0} == {
        "attempted": 1,
        "delivered": 1,
        "retrying": 0,
        "failed": 0,
        "waiting": 0,
        "seconds": 0,
    }
    [(mail_from, rcpt_tos, message)] = box.messages
    assert (mail_from, rcpt_tos) == (FROM, [EMAIL])
    assert (message["Subject"], message["From"], message["To"]) == (TITLE, FROM, EMAIL)
    assert message["Auto-Submitted"] == "auto-generated"
    assert f"notice-{notice_id}" in message["Message-ID"]
    text = message.get_body(("plain",))
    assert text is not None and text.get_content().replace("\r\n", "\n") == BODY
    [delivery] = _deliveries(store)
    assert (delivery.status, delivery.attempts, delivery.delivered_at) == ("delivered", 1, T0)
    assert delivery.last_error is None
    # Delivered once: a later run sends nothing.
    assert (
        notices.deliver_due(
            store, _with_email(settings, port), now=T0 + timedelta(days=1)
        ).attempted
        == 0
    )
    assert len(box.messages) == 1


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "smtp.crt", tmp_path / "smtp.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_email_goes_over_starttls_with_a_verified_certificate_and_a_login(
    store: Store,
    settings: Settings,
    subject_id: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cert_file, key_file = _self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert_file, key_file)
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(
        server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == RIGHT.encode(), handled=False)

    box, port = Mailbox(), _free_port()
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_tls,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    )
    controller.start()
    try:
        _notice(store, subject_id, ("email", EMAIL))
        secure = _with_email(
            settings, port, smtp_starttls=True, smtp_user="candor", smtp_password=WRONG
        )
        # The certificate is not trusted yet: no email goes over a connection not verified.
        report = notices.deliver_due(store, secure, now=T0)
        assert report.retrying == 1
        assert _deliveries(store)[0].last_error == "SSLCertVerificationError"
        monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
        later = T0 + timedelta(hours=1)
        assert notices.deliver_due(store, secure, now=later).retrying == 1
        assert _deliveries(store)[0].last_error == "SMTPAuthenticationError 535"
        right = dataclasses.replace(secure, smtp_password=RIGHT)
        assert notices.deliver_due(store, right, now=later + timedelta(hours=1)).delivered == 1
    finally:
        controller.stop()
    assert logins[-1] == (b"candor", RIGHT.encode())
    [(_, rcpt_tos, message)] = box.messages
    assert rcpt_tos == [EMAIL] and message["Subject"] == TITLE


def test_email_waits_visibly_while_smtp_is_not_configured(
    store: Store,
    settings: Settings,
    subject_id: int,
    receiver: Receiver,
    mailbox: tuple[Mailbox, int],
) -> None:
    _notice(store, subject_id, ("email", EMAIL), ("webhook", receiver.url))
    for day in range(20):  # far more runs than the most attempts: waiting is not failing
        report = notices.deliver_due(store, settings, now=T0 + timedelta(days=day))
        assert report.waiting == 1
    assert len(receiver.received) == 1  # the webhook went at once
    email_row, webhook_row = _deliveries(store)
    assert (email_row.status, email_row.attempts) == ("pending", 0)
    assert email_row.last_error == "email is not configured"
    assert webhook_row.status == "delivered"
    [pending] = notices.pending_deliveries(store)
    assert (pending.last_error, pending.address) == ("email is not configured", "z***@example.com")
    box, port = mailbox
    report = notices.deliver_due(store, _with_email(settings, port), now=T0 + timedelta(days=30))
    assert (report.delivered, report.waiting) == (1, 0)
    assert len(box.messages) == 1


def test_smtp_down_is_a_failed_attempt_retried_when_it_is_back(
    store: Store, settings: Settings, subject_id: int, mailbox: tuple[Mailbox, int]
) -> None:
    _notice(store, subject_id, ("email", EMAIL))
    report = notices.deliver_due(store, _with_email(settings, _free_port()), now=T0)
    assert (report.retrying, report.delivered) == (1, 0)
    [row] = _deliveries(store)
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "ConnectionRefusedError")
    box, port = mailbox
    later = T0 + timedelta(seconds=40)  # past the first backoff: 30 s + 20% at most
    assert notices.deliver_due(store, _with_email(settings, port), now=later).delivered == 1
    [row] = _deliveries(store)
    assert (row.status, row.attempts, row.last_error) == ("delivered", 2, None)
    assert len(box.messages) == 1


# --- webhooks ----------------------------------------------------------------------------------


def test_a_webhook_is_signed_per_standard_webhooks(
    store: Store, settings: Settings, client_id: int, receiver: Receiver
) -> None:
    with store.write() as conn:
        notice_id = notices.create_notice(
            conn,
            client_id=client_id,
            kind="answer_changed",
            title="An answer you were given changed",
            body="The check of 2026-11-20 would now be answered: does not apply.",
            data={"check": 17, "applies": False},
            deliver_to=[("webhook", receiver.url)],
            now=T0,
        )
    assert notices.deliver_due(store, settings, now=T0).delivered == 1
    [(headers, body)] = receiver.received
    secret = notices.webhook_secret(settings, receiver.url)
    assert secret.startswith("whsec_")
    # The reference implementation's verifier accepts it...
    payload = Webhook(secret).verify(body, headers)
    assert payload == {
        "id": notice_id,
        "kind": "answer_changed",
        "title": "An answer you were given changed",
        "data": {"check": 17, "applies": False},
        "created_at": T0.isoformat(),
    }
    assert headers["content-type"] == "application/json"
    # ...and so does the spec's formula, computed here from the headers and the raw body.
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert f"v1,{expected}" in headers["webhook-signature"].split(" ")
    # Another receiver's secret does not verify it.
    other = notices.webhook_secret(settings, receiver.url + "/other")
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(other).verify(body, headers)
    # The operator prints the same secret for the receiver.
    result = CliRunner(env={"CANDOR_SECRET_FILE": str(settings.secret_file)}).invoke(
        app, ["notices", "webhook-secret", receiver.url], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == secret


def test_after_a_key_rotation_webhooks_verify_under_the_old_and_the_new_secret(
    store: Store, settings: Settings, client_id: int, receiver: Receiver
) -> None:
    old = notices.webhook_secret(settings, receiver.url)
    from candor.services.secret import add_key  # noqa: PLC0415

    add_key(settings)
    new = notices.webhook_secret(settings, receiver.url)
    assert new != old
    with store.write() as conn:
        notices.create_notice(
            conn, client_id=client_id, kind="k", title="t", body="b", data={},
            deliver_to=[("webhook", receiver.url)],
        )  # fmt: skip
    assert notices.deliver_due(store, settings).delivered == 1
    [(headers, body)] = receiver.received
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(body, headers)
    assert len(load_secret(settings).keys) == 2


def test_a_webhook_answering_500_is_retried_after_the_backoff(
    store: Store, settings: Settings, subject_id: int, receiver: Receiver
) -> None:
    receiver.statuses = [500]
    _notice(store, subject_id, ("webhook", receiver.url))
    report = notices.deliver_due(store, settings, now=T0)
    assert (report.attempted, report.retrying) == (1, 1)
    [row] = _deliveries(store)
    assert (row.status, row.attempts, row.last_error, row.last_attempt_at) == (
        "pending",
        1,
        "HTTP 500",
        T0,
    )
    # 30 s, give or take 20%.
    assert T0 + timedelta(seconds=24) <= row.next_attempt_at <= T0 + timedelta(seconds=36)
    assert notices.deliver_due(store, settings, now=T0 + timedelta(seconds=23)).attempted == 0
    report = notices.deliver_due(store, settings, now=T0 + timedelta(seconds=37))
    assert (report.attempted, report.delivered) == (1, 1)
    [row] = _deliveries(store)
    assert (row.status, row.attempts, row.last_error) == ("delivered", 2, None)
    first, second = receiver.received
    assert first[0]["webhook-id"] == second[0]["webhook-id"]  # receivers de-duplicate on it
    assert first[1] == second[1]
    assert b"no" not in (row.last_error or "").encode()  # the answer's body is never kept


def test_connection_refused_and_timeouts_are_failed_attempts(
    store: Store, settings: Settings, subject_id: int, receiver: Receiver
) -> None:
    refused = f"http://127.0.0.1:{_free_port()}/hook"
    _notice(store, subject_id, ("webhook", refused), ("webhook", receiver.url))
    receiver.hold.clear()  # the receiver takes the request and never answers in time
    quick = dataclasses.replace(settings, webhook_timeout_s=0.3)
    report = notices.deliver_due(store, quick, now=T0)
    receiver.hold.set()
    assert (report.attempted, report.retrying, report.delivered) == (2, 2, 0)
    by_address = {d.address: d for d in _deliveries(store)}
    assert by_address[refused].last_error == "ConnectionRefusedError"
    assert by_address[receiver.url].last_error == "TimeoutError after 0.3 s"
    assert {d.status for d in by_address.values()} == {"pending"}
    assert {d.attempts for d in by_address.values()} == {1}


def test_redirects_are_not_followed(
    store: Store, settings: Settings, subject_id: int, receiver: Receiver
) -> None:
    receiver.statuses = [307]
    _notice(store, subject_id, ("webhook", receiver.url))
    assert notices.deliver_due(store, settings, now=T0).retrying == 1
    assert _deliveries(store)[0].last_error == "HTTP 307"


# --- giving up, and listing --------------------------------------------------------------------


def test_after_the_most_attempts_a_delivery_fails_and_is_listed(
    store: Store, settings: Settings, subject_id: int
) -> None:
    port = _free_port()
    dead = f"https://127.0.0.1:{port}/notices/zhang"
    _notice(store, subject_id, ("email", EMAIL), ("webhook", dead))
    three = _with_email(settings, _free_port(), delivery_max_attempts=3)
    at = T0
    for attempt in range(1, 4):
        report = notices.deliver_due(store, three, now=at)
        assert report.attempted == 2
        assert (report.retrying, report.failed) == ((2, 0) if attempt < 3 else (0, 2))
        at += timedelta(hours=8)  # past the longest backoff
    assert notices.deliver_due(store, three, now=at + timedelta(days=30)).attempted == 0
    failed = notices.failed_deliveries(store)
    assert {(d.channel, d.address, d.status, d.attempts) for d in failed} == {
        ("email", "z***@example.com", "failed", 3),
        ("webhook", f"https://127.0.0.1:{port}/…", "failed", 3),
    }
    assert {d.last_error for d in failed} == {"ConnectionRefusedError"}
    assert {d.recipient for d in failed} == {f"subject {_subject_ref(store, subject_id)}"}
    assert notices.pending_deliveries(store) == []

    runner = CliRunner(env={"CANDOR_SECRET_FILE": str(settings.secret_file)})
    listed = runner.invoke(
        app, ["notices", "list", "--failed", "--json", "--db", settings.database_url]
    )
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)["deliveries"]
    assert {(r["channel"], r["status"], r["attempts"]) for r in rows} == {
        ("email", "failed", 3),
        ("webhook", "failed", 3),
    }
    table = runner.invoke(app, ["notices", "list", "--db", settings.database_url])
    assert table.exit_code == 0, table.output
    for output in (listed.stdout, table.stdout):
        assert EMAIL not in output and "zhang" not in output
    assert "z***@example.com" in table.stdout and "failed" in table.stdout
    pending = runner.invoke(
        app, ["notices", "list", "--pending", "--json", "--db", settings.database_url]
    )
    assert json.loads(pending.stdout) == {"deliveries": []}


def _subject_ref(store: Store, subject_id: int) -> str:
    with store.read() as conn:
        return str(
            conn.execute(sa.select(subjects.c.ref).where(subjects.c.id == subject_id)).scalar_one()
        )


def test_candor_notices_deliver(
    store: Store, settings: Settings, subject_id: int, receiver: Receiver
) -> None:
    _notice(store, subject_id, ("webhook", receiver.url), ("email", EMAIL))
    runner = CliRunner(env={"CANDOR_SECRET_FILE": str(settings.secret_file)})
    result = runner.invoke(app, ["notices", "deliver", "--json", "--db", settings.database_url])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["attempted"], report["delivered"], report["waiting"]) == (1, 1, 1)
    text = runner.invoke(app, ["notices", "deliver", "--db", settings.database_url])
    assert text.exit_code == 0, text.output
    assert "0 attempted" in text.stdout and "email is not configured" in text.stdout
    bad = runner.invoke(app, ["notices", "webhook-secret", "ftp://zhang.example/x"])
    assert bad.exit_code == 1
    assert "must be an https://" in bad.output and "zhang" not in bad.output


# --- concurrency and interruptions -------------------------------------------------------------


def test_two_senders_at_once_never_send_a_delivery_twice(
    store: Store, settings: Settings, subject_id: int, receiver: Receiver
) -> None:
    count = 30
    with store.write() as conn:
        for i in range(count):
            notices.create_notice(
                conn, subject_id=subject_id, kind="k", title=f"n{i}", body="b", data={"i": i},
                deliver_to=[("webhook", receiver.url)], now=T0,
            )  # fmt: skip
    start = threading.Barrier(2)
    reports: list[notices.DeliveryReport] = []
    errors: list[BaseException] = []

    def sender() -> None:
        try:
            with open_store(settings.database_url) as own:
                start.wait()
                reports.append(notices.deliver_due(own, settings, now=T0, batch=2))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    ids = Counter(headers["webhook-id"] for headers, _ in receiver.received)
    assert len(ids) == count
    assert max(ids.values()) == 1, [i for i, n in ids.items() if n > 1]
    assert sum(r.delivered for r in reports) == count
    assert {(d.status, d.attempts) for d in _deliveries(store)} == {("delivered", 1)}


def test_an_attempt_whose_result_was_never_recorded_is_made_again_after_its_lease(
    store: Store, settings: Settings, subject_id: int, receiver: Receiver
) -> None:
    _notice(store, subject_id, ("webhook", receiver.url))
    lease = timedelta(minutes=5)
    with store.write() as conn:  # a sender claims it, then dies before recording anything
        [claimed] = notice_rows.claim_due(
            conn, now=T0, channels=["webhook"], limit=10, lease=lease, max_attempts=8
        ).claimed
    assert claimed.attempts == 1
    assert notices.deliver_due(store, settings, now=T0 + timedelta(minutes=4)).attempted == 0
    report = notices.deliver_due(store, settings, now=T0 + lease)
    assert report.delivered == 1
    with store.write() as conn:  # the first sender's late result is not recorded over it
        assert not notice_rows.record_failure(
            conn, claimed.id, claimed.attempts, error="late", retry_at=T0
        )
    [row] = _deliveries(store)
    assert (row.status, row.attempts, row.last_error) == ("delivered", 2, None)


def test_a_run_stopped_mid_batch_records_what_it_sent_and_hands_the_rest_back(
    store: Store, settings: Settings, subject_id: int, receiver: Receiver
) -> None:
    _notice(store, subject_id, ("webhook", receiver.url), ("webhook", receiver.url + "/2"))

    def stop(done: int) -> None:
        raise KeyboardInterrupt  # the operator presses Ctrl-C after the first send

    with pytest.raises(KeyboardInterrupt):
        notices.deliver_due(store, settings, now=T0, on_progress=stop)
    sent, kept = _deliveries(store)
    assert (sent.status, sent.attempts) == ("delivered", 1)
    assert (kept.status, kept.attempts, kept.next_attempt_at) == ("pending", 0, T0)
    assert notices.deliver_due(store, settings, now=T0).delivered == 1
    assert len(receiver.received) == 2


def test_an_interrupted_last_attempt_fails_the_delivery(
    store: Store, settings: Settings, subject_id: int, receiver: Receiver
) -> None:
    _notice(store, subject_id, ("webhook", receiver.url))
    one = dataclasses.replace(settings, delivery_max_attempts=1)
    with store.write() as conn:
        notice_rows.claim_due(
            conn, now=T0, channels=["webhook"], limit=1, lease=timedelta(0), max_attempts=1
        )
    report = notices.deliver_due(store, one, now=T0)
    assert (report.attempted, report.failed) == (0, 1)
    [failed] = notices.failed_deliveries(store)
    assert failed.attempts == 1 and "interrupted" in (failed.last_error or "")
    assert receiver.received == []


# --- backoff and settings ----------------------------------------------------------------------


def test_the_backoff_doubles_up_to_six_hours_give_or_take_a_fifth() -> None:
    assert notices.retry_delay(1, 30, jitter=0) == timedelta(seconds=30)
    assert notices.retry_delay(2, 30, jitter=0) == timedelta(seconds=60)
    assert notices.retry_delay(5, 30, jitter=0) == timedelta(seconds=480)
    assert notices.retry_delay(30, 30, jitter=0) == timedelta(hours=6)
    assert notices.retry_delay(1, 30, jitter=1) == timedelta(seconds=36)
    assert notices.retry_delay(1, 30, jitter=-1) == timedelta(seconds=24)
    spread = {notices.retry_delay(3, 10) for _ in range(200)}
    assert all(timedelta(seconds=32) <= d <= timedelta(seconds=48) for d in spread)
    assert len(spread) > 1


def test_the_delivery_settings_are_read_from_the_environment() -> None:
    loaded = Settings.load(
        environ={
            "CANDOR_SMTP_HOST": "smtp.example.gov",
            "CANDOR_SMTP_PORT": "2525",
            "CANDOR_SMTP_STARTTLS": "false",
            "CANDOR_SMTP_PASSWORD": "hunter2",
            "CANDOR_WEBHOOK_TIMEOUT_S": "2.5",
            "CANDOR_DELIVERY_MAX_ATTEMPTS": "3",
            "CANDOR_DELIVERY_BACKOFF_S": "5",
        }
    )
    assert (loaded.smtp_host, loaded.smtp_port, loaded.smtp_starttls) == (
        "smtp.example.gov",
        2525,
        False,
    )
    assert (loaded.webhook_timeout_s, loaded.delivery_max_attempts) == (2.5, 3)
    assert loaded.delivery_backoff_s == 5.0
    assert "hunter2" not in repr(loaded)
    defaults = Settings.load(environ={})
    assert (defaults.smtp_starttls, defaults.delivery_max_attempts) == (True, 8)
    assert not notices.email_configured(defaults)
    for env, value, message in (
        ("CANDOR_SMTP_STARTTLS", "maybe", "must be true or false"),
        ("CANDOR_WEBHOOK_TIMEOUT_S", "soon", "must be a number"),
        ("CANDOR_WEBHOOK_TIMEOUT_S", "0", "greater than zero"),
        ("CANDOR_DELIVERY_MAX_ATTEMPTS", "0", "greater than zero"),
    ):
        with pytest.raises(InvalidInput, match=message):
            Settings.load(environ={env: value})


def test_masked_addresses_keep_only_what_tells_them_apart() -> None:
    assert notices.mask_address("email", "zhang.san@example.com") == "z***@example.com"
    assert notices.mask_address("webhook", "https://bank.example/x/zhang?id=1") == (
        "https://bank.example/…"
    )
    assert notices.mask_address("webhook", "http://127.0.0.1:8080/h") == "http://127.0.0.1:8080/…"
