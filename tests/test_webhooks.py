"""Signed webhooks: local verification (voxgate.webhooks), and a live server delivering job events to a
receiver on loopback, retrying a failing one, logging every attempt, and resending on request."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.conftest import LiveServer, start_server, stop_server
from tests.helpers import librivox_clips
from voxgate import Client
from voxgate.sdk.errors import APIStatusError, RateLimitError
from voxgate.sdk.types import WebhookDelivery
from voxgate.webhooks import (
    WebhookVerificationError,
    construct_event,
    sign,
    signature_header,
    verify_signature,
)

CLIP, _ = librivox_clips()[1]
SECRET = "whsec_test_secret"


# ---- verification, no server ----------------------------------------------------------------------------

def test_a_genuine_signature_verifies() -> None:
    body = b'{"id":"evt_1","type":"transcription.job.succeeded","created":1,"data":{"id":"job_1"}}'
    header = signature_header(body, SECRET)
    assert verify_signature(body, header, SECRET) > 0
    assert construct_event(body.decode(), {"Voxgate-Signature": header}, SECRET)["data"]["id"] == "job_1"


def test_a_tampered_body_is_rejected() -> None:
    body = b'{"id":"evt_1","type":"transcription.job.succeeded","data":{"status":"succeeded"}}'
    header = signature_header(body, SECRET)
    with pytest.raises(WebhookVerificationError, match="does not match"):
        verify_signature(body.replace(b"succeeded\"}", b"failed\"}"), header, SECRET)
    with pytest.raises(WebhookVerificationError):
        verify_signature(body, header, "whsec_another_secret")


def test_an_old_or_future_timestamp_is_rejected() -> None:
    body = b'{"type":"transcription.job.failed"}'
    old = int(time.time()) - 301
    with pytest.raises(WebhookVerificationError, match="old"):
        verify_signature(body, signature_header(body, SECRET, old), SECRET)
    with pytest.raises(WebhookVerificationError):
        verify_signature(body, signature_header(body, SECRET, int(time.time()) + 3600), SECRET)
    assert verify_signature(body, signature_header(body, SECRET, old), SECRET, tolerance=None) == old
    assert verify_signature(body, signature_header(body, SECRET, old), SECRET, tolerance=600) == old


def test_malformed_headers_are_rejected() -> None:
    body = b"{}"
    t = int(time.time())
    for header in (None, "", "v1=abc", f"t={t}", f"t=soon,v1={sign(body, SECRET, t)}", {"other": "x"}):
        with pytest.raises(WebhookVerificationError):
            verify_signature(body, header, SECRET)  # type: ignore[arg-type]
    rotated = f"t={t},v1={'0' * 64},v1={sign(body, SECRET, t)}"  # any matching v1 passes (secret rotation)
    assert verify_signature(body, rotated, SECRET) == t
    with pytest.raises(WebhookVerificationError, match="JSON"):
        construct_event(b"not json", signature_header(b"not json", SECRET), SECRET)


# ---- live deliveries -----------------------------------------------------------------------------------

class Receiver:
    """A webhook endpoint on loopback that answers from a script (status codes, or "slow" to time out)."""

    def __init__(self, script: Callable[[int], int | str]) -> None:
        self.script = script
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["content-length"]))
                with receiver.lock:
                    receiver.calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    answer = receiver.script(len(receiver.calls))
                if answer == "slow":
                    time.sleep(1.5)
                    answer = 200
                self.send_response(int(answer))
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/hook"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def wait_for(self, n: int, timeout: float = 60) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout
        while len(self.calls) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.calls) >= n, f"{len(self.calls)} of {n} deliveries arrived"
        return list(self.calls)

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture(scope="module")
def hook_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("voxgate-webhooks"), {
        "VOXGATE_JOB_POLL_S": "0.2", "VOXGATE_WEBHOOK_RETRY_BASE_S": "0.2", "VOXGATE_WEBHOOK_MAX_ATTEMPTS": "4",
        "VOXGATE_WEBHOOK_TIMEOUT_S": "1", "VOXGATE_WEBHOOK_ALLOW_PRIVATE": "true", "VOXGATE_WEBHOOK_MAX_RESENDS": "2"})
    try:
        yield live
    finally:
        stop_server(live)


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made: list[Receiver] = []
    yield made
    for r in made:
        r.close()


def new_client(server: LiveServer) -> Client:
    with server.http() as http:
        key = http.post("/v1/admin/keys", json={"name": "webhooks-test"}).json()["key"]
    return Client(api_key=key, base_url=server.base_url, max_retries=0)


def wait_delivery(client: Client, job_id: str, status: str, timeout: float = 60) -> WebhookDelivery:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [d for d in client.webhooks.deliveries.list(job_id=job_id) if d.status == status]
        if found:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"no {status} delivery for {job_id}")


def test_a_finished_job_sends_a_signed_event(hook_server: LiveServer, receivers: list[Receiver]) -> None:
    receiver = Receiver(lambda n: 200)
    receivers.append(receiver)
    client = new_client(hook_server)
    mine = client.webhooks.secret()
    secret = mine.secret
    workspace = (hook_server.data_dir / "webhook_secret").read_text().strip()
    assert secret.startswith("whsec_") and secret != workspace and mine.workspace_secret is None
    assert client.webhooks.secret().secret == secret  # created once, then kept
    job = client.jobs.create(file=CLIP, model="whisper-1", webhook_url=receiver.url)
    headers, body = receiver.wait_for(1, timeout=120)[0]
    event = construct_event(body, headers, secret)
    admin = Client(api_key=hook_server.key, base_url=hook_server.base_url, max_retries=0)
    assert admin.webhooks.secret().workspace_secret == workspace  # an operator's receiver verifies every key's
    assert construct_event(body, headers, workspace)["id"] == event["id"]
    with pytest.raises(WebhookVerificationError):  # another key's secret cannot verify (nor forge) this event
        verify_signature(body, headers, new_client(hook_server).webhooks.secret().secret)
    assert event["type"] == "transcription.job.succeeded" and event["id"].startswith("evt_")
    assert event["data"]["id"] == job.id and event["data"]["status"] == "succeeded"
    assert headers["voxgate-event-id"] == event["id"] and headers["content-type"] == "application/json"
    assert client.webhooks.construct_event(body, headers, secret=secret)["id"] == event["id"]
    with pytest.raises(WebhookVerificationError):
        verify_signature(body.replace(b"succeeded", b"failed", 1), headers, secret)
    delivery = wait_delivery(client, job.id, "succeeded")
    assert delivery.attempts == 1 and delivery.event_id == event["id"] and delivery.last_status_code == 200


def test_a_failing_receiver_gets_retries(hook_server: LiveServer, receivers: list[Receiver]) -> None:
    receiver = Receiver(lambda n: {1: "slow", 2: 500}.get(n, 200))  # a timeout, a 500, then success
    receivers.append(receiver)
    client = new_client(hook_server)
    job = client.jobs.create(file=b"not audio", model="whisper-1", webhook_url=receiver.url)  # fails fast
    calls = receiver.wait_for(3)
    events = [json.loads(body) for _, body in calls]
    assert {e["id"] for e in events} == {events[0]["id"]} and events[0]["type"] == "transcription.job.failed"
    assert events[0]["data"]["error"]["code"] == "invalid_audio"
    assert [h["voxgate-delivery-attempt"] for h, _ in calls] == ["1", "2", "3"]
    secret = client.webhooks.secret().secret
    assert all(verify_signature(body, headers, secret) for headers, body in calls)
    delivery = wait_delivery(client, job.id, "succeeded")
    assert delivery.attempts == 3
    assert [a.status_code for a in delivery.attempt_log] == [None, 500, 200]
    assert "no answer within 1 s" in (delivery.attempt_log[0].error or "")
    assert delivery.attempt_log[1].error == "HTTP 500", "the receiver's answer body is neither read nor stored"
    gaps = [b.at - a.at for a, b in zip(delivery.attempt_log, delivery.attempt_log[1:], strict=False)]
    assert gaps[1] >= 0.35  # exponential backoff: 0.2 s, then 0.4 s


def test_an_exhausted_delivery_fails_and_can_be_resent(hook_server: LiveServer, receivers: list[Receiver]) -> None:
    healthy = threading.Event()
    receiver = Receiver(lambda n: 200 if healthy.is_set() else 503)
    receivers.append(receiver)
    client = new_client(hook_server)
    job = client.jobs.create(file=b"not audio", model="whisper-1", webhook_url=receiver.url)
    failed = wait_delivery(client, job.id, "failed")
    assert failed.attempts == 4 and failed.last_status_code == 503 and len(receiver.calls) == 4
    healthy.set()
    resent = client.webhooks.deliveries.resend(failed.id)
    assert resent.resend_of == failed.id and resent.event_id == failed.event_id and resent.status == "pending"
    delivered = wait_delivery(client, job.id, "succeeded")
    assert delivered.id == resent.id and json.loads(receiver.calls[-1][1])["id"] == failed.event_id
    assert client.webhooks.deliveries.resend(resent.id).resend_of == failed.id  # counted against the original
    with pytest.raises(RateLimitError) as refused:  # VOXGATE_WEBHOOK_MAX_RESENDS=2
        client.webhooks.deliveries.resend(failed.id)
    assert refused.value.code == "resend_limit"


def test_a_keys_default_webhook_url(hook_server: LiveServer, receivers: list[Receiver]) -> None:
    receiver = Receiver(lambda n: 204)
    receivers.append(receiver)
    client = new_client(hook_server)
    assert client.webhooks.get_default().url is None
    assert client.webhooks.set_default(receiver.url).url == receiver.url
    job = client.jobs.create(file=b"not audio", model="whisper-1")
    assert job.webhook_url == receiver.url
    event = json.loads(receiver.wait_for(1)[0][1])
    assert event["data"]["id"] == job.id
    other = new_client(hook_server)  # deliveries are listed per key
    assert other.webhooks.deliveries.list().data == []
    assert client.webhooks.set_default(None).url is None


def test_the_sender_logs_only_the_origin_and_never_reads_the_answer() -> None:
    """A webhook URL's path and query may hold the receiver's secrets, and its answer is the receiver's data:
    the log shows scheme://host:port, the delivery log the status code alone."""
    from voxgate.jobs.sender import _origin

    assert _origin("https://hooks.example.com:8443/in/T0K3N?sig=abc") == "https://hooks.example.com:8443"
    assert _origin("http://10.0.0.5/hook") == "http://10.0.0.5"


def test_a_rotated_secret_signs_beside_the_old_one_for_the_grace_period(hook_server: LiveServer,
                                                                        receivers: list[Receiver]) -> None:
    receiver = Receiver(lambda n: 200)
    receivers.append(receiver)
    client = new_client(hook_server)
    old = client.webhooks.secret().secret
    rotated = client.webhooks.rotate_secret()
    assert rotated.secret != old and rotated.previous_valid_until and client.webhooks.secret().secret == rotated.secret
    client.jobs.create(file=b"not audio", model="whisper-1", webhook_url=receiver.url)
    headers, body = receiver.wait_for(1)[0]
    assert verify_signature(body, headers, rotated.secret) and verify_signature(body, headers, old)
    assert headers["voxgate-signature"].count("v1=") == 3  # new, old (in its grace period), workspace


class DripReceiver:
    """A receiver that answers one byte every 0.3 s: each read is quick, the whole answer never ends."""

    def __init__(self) -> None:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/drip"
        self.accepted = 0
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: Any) -> None:
        with conn:
            for byte in b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n":
                if self.stop.is_set():
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return
                time.sleep(0.3)

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


def test_a_drip_feeding_receiver_is_cut_off_and_does_not_delay_other_keys(hook_server: LiveServer,
                                                                           receivers: list[Receiver]) -> None:
    """Each attempt has one deadline for all of it (VOXGATE_WEBHOOK_TIMEOUT_S=1 here), and a key with a slow
    receiver holds at most one of the senders, so another key's event goes out meanwhile."""
    drip = DripReceiver()
    try:
        slow_client = new_client(hook_server)
        slow_jobs = [slow_client.jobs.create(file=b"not audio", model="whisper-1", webhook_url=drip.url)
                     for _ in range(4)]
        victim = Receiver(lambda n: 200)
        receivers.append(victim)
        client = new_client(hook_server)
        while drip.accepted == 0:
            time.sleep(0.05)
        started = time.monotonic()
        client.jobs.create(file=b"not audio", model="whisper-1", webhook_url=victim.url)
        victim.wait_for(1, timeout=30)
        assert time.monotonic() - started < 6, "the victim waited behind the slow key's deliveries"
        slow = wait_delivery(slow_client, slow_jobs[0].id, "failed", timeout=120)
        assert all(a.duration_ms is not None and a.duration_ms < 2500 for a in slow.attempt_log)
        assert "no answer within 1 s" in (slow.attempt_log[0].error or "")
    finally:
        drip.close()


def test_webhooks_to_private_addresses_are_refused(server: LiveServer) -> None:
    """SSRF: the default server refuses loopback, private, link-local, CGNAT, multicast and unspecified
    addresses in any spelling when the URL is given, and a name that resolves to one when it is sent; the
    loopback listener gets nothing."""
    listener = Receiver(lambda n: 200)
    try:
        port = listener.url.split(":")[2].split("/")[0]
        client = new_client(server)
        refused = [f"http://127.0.0.1:{port}/hook", f"http://2130706433:{port}/", f"http://0x7f.1:{port}/",
                   f"http://[::1]:{port}/", f"http://[::ffff:127.0.0.1]:{port}/", "http://169.254.169.254/latest",
                   "http://10.1.2.3/", "http://192.168.0.1/", "http://172.16.0.1/", "http://100.64.0.1/",
                   "http://0.0.0.0/", "http://224.0.0.1/", "http://[fe80::1]/", "http://[fd00::1]/",
                   "http://user:pass@example.com/"]
        for url in refused:
            with pytest.raises(APIStatusError) as err:
                client.jobs.create(file=b"not audio", model="whisper-1", webhook_url=url)
            assert err.value.status == 400 and err.value.code == "invalid_webhook_url", url
            with pytest.raises(APIStatusError):
                client.webhooks.set_default(url)
        job = client.jobs.create(file=b"not audio", model="whisper-1", webhook_url=f"http://localhost:{port}/hook")
        failed = wait_delivery(client, job.id, "failed")
        assert failed.attempts == 1 and "not a public address" in (failed.last_error or "")
        assert listener.calls == []
    finally:
        listener.close()


def test_address_policy_units() -> None:
    import asyncio
    import ipaddress

    from voxgate.jobs.addresses import AddressPolicy, BlockedAddress, is_public, literal

    assert literal("2130706433") == ipaddress.ip_address("127.0.0.1")
    assert literal("0x7f.0.0.1") == ipaddress.ip_address("127.0.0.1")
    assert literal("[::1]") == ipaddress.ip_address("::1") and literal("example.com") is None
    for address in ("127.0.0.1", "10.0.0.1", "100.64.1.1", "169.254.169.254", "0.0.0.0", "224.0.0.251",
                    "255.255.255.255", "::1", "::", "fe80::1", "fc00::1", "::ffff:10.0.0.1", "2002:7f00:1::1",
                    "ff02::1", "240.0.0.1"):
        assert not is_public(ipaddress.ip_address(address)), address
    assert is_public(ipaddress.ip_address("93.184.216.34")) and is_public(ipaddress.ip_address("2606:4700::1111"))
    policy = AddressPolicy(allowed=(ipaddress.ip_network("10.1.0.0/16"),))
    assert policy.permits(ipaddress.ip_address("10.1.2.3")) and not policy.permits(ipaddress.ip_address("10.2.0.1"))
    assert AddressPolicy(allow_private=True).permits(ipaddress.ip_address("127.0.0.1"))
    with pytest.raises(BlockedAddress):
        asyncio.run(AddressPolicy().resolve("localhost", 80))
