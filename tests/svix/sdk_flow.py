"""Drives Herald's Svix-compatible API with the official Svix Python SDK.

Run by tests/it/svix.rs against a real `herald serve`: HERALD_URL is its
base URL, HERALD_KEY a platform key. A loopback receiver started here
verifies every delivery with the SDK's own verifier
(`svix.webhooks.Webhook`); the flow covers applications (and
`get_if_exists`), an endpoint, its secret and rotation, headers, the
app portal link (opened once),
messages (a duplicate `eventId` is a 409 the SDK raises), deliveries,
message and attempt lists across several pages both ways, resend,
recover, statistics, an example, and deleting the endpoint and the app.
Prints "SDK FLOW OK" at the end; any failure raises.
"""

import http.client
import http.server
import json
import os
import sys
import threading
import urllib.parse
import time
from datetime import datetime, timedelta, timezone

from svix.api import (
    AppPortalAccessIn,
    ApplicationIn,
    ApplicationListOptions,
    ApplicationPatch,
    EndpointHeadersIn,
    EndpointHeadersPatchIn,
    EndpointIn,
    EndpointPatch,
    EndpointSecretRotateIn,
    EventExampleIn,
    EventTypeDeleteOptions,
    EventTypeIn,
    EventTypeListOptions,
    EventTypePatch,
    EventTypeUpdate,
    MessageAttemptListByEndpointOptions,
    MessageAttemptListByMsgOptions,
    MessageIn,
    MessageListOptions,
    RecoverIn,
    Svix,
    SvixOptions,
)
from svix.exceptions import HTTPValidationError, HttpError
from svix.webhooks import Webhook, WebhookVerificationError

URL = os.environ["HERALD_URL"]
KEY = os.environ["HERALD_KEY"]


class Receiver:
    """A loopback receiver: verifies each request with the endpoint's
    current secret and answers `status` (200, or 400 to make a delivery
    fail for good)."""

    def __init__(self):
        self.secret = None
        self.status = 200
        self.verified = []  # (payload, headers)
        self.refused = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                headers = {k: v for k, v in self.headers.items()}
                with outer.lock:
                    status = outer.status
                    try:
                        payload = Webhook(outer.secret).verify(body, headers)
                        if status == 200:
                            outer.verified.append((payload, headers))
                    except WebhookVerificationError:
                        outer.refused += 1
                        status = 401
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def wait_for(self, n, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if len(self.verified) >= n:
                    return list(self.verified)
            time.sleep(0.05)
        raise AssertionError(f"{len(self.verified)} of {n} deliveries verified ({self.refused} refused)")


def expect_http_error(status, fn):
    """The error the SDK raises for an answer of `status` (a 422 in Svix's
    validation shape is its own exception class)."""
    try:
        fn()
    except (HttpError, HTTPValidationError) as e:
        assert e.status_code == status, (e.status_code, e.to_dict())
        return e
    raise AssertionError(f"expected HTTP {status}")


def walk(list_page, limit):
    """Every item of a list, page by page, checking the iterators."""
    items, iterator, pages = [], None, []
    while True:
        page = list_page(limit, iterator)
        assert len(page.data) <= limit
        pages.append(page)
        items.extend(page.data)
        if page.done:
            break
        assert page.iterator is not None
        iterator = page.iterator
    return items, pages


def wait_until(cond, what, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def main():
    svix = Svix(KEY, SvixOptions(server_url=URL))
    rx = Receiver()

    # Applications: create, get_if_exists, get, patch, list.
    app = svix.application.create(ApplicationIn(name="Shop", uid="shop-1", metadata={"plan": "pro"}))
    assert app.id == "shop-1" and app.uid == "shop-1" and app.name == "Shop", app
    again = svix.application.get_or_create(ApplicationIn(name="Shop again", uid="shop-1"))
    assert again.id == app.id and again.name == "Shop"
    expect_http_error(409, lambda: svix.application.create(ApplicationIn(name="x", uid="shop-1")))
    other = svix.application.create(ApplicationIn(name="Generated"))
    assert other.id.startswith("app_"), other.id
    assert svix.application.get("shop-1").metadata == {"plan": "pro"}
    assert svix.application.patch("shop-1", ApplicationPatch(name="Shop 1")).name == "Shop 1"
    apps, _ = walk(lambda limit, it: svix.application.list(
        ApplicationListOptions(limit=limit, iterator=it)), 1)
    assert {a.id for a in apps} >= {"shop-1", other.id}, [a.id for a in apps]
    svix.application.delete(other.id)
    expect_http_error(404, lambda: svix.application.get(other.id))

    # An endpoint; its secret, read and rotated.
    ep = svix.endpoint.create(app.id, EndpointIn(
        url=rx.url, uid="main", description="main hook",
        filter_types=["order.created", "payment.completed"], metadata={"team": "a"}))
    assert ep.id.startswith("ep_") and ep.uid == "main" and ep.version == 1
    assert sorted(ep.filter_types) == ["order.created", "payment.completed"]
    assert ep.disabled is False
    first = svix.endpoint.get_secret(app.id, ep.id).key
    assert first.startswith("whsec_"), first
    svix.endpoint.rotate_secret(app.id, ep.id, EndpointSecretRotateIn())
    rotated = svix.endpoint.get_secret(app.id, "main").key
    assert rotated.startswith("whsec_") and rotated != first
    rx.secret = rotated
    # Headers: put the whole set, then patch it.
    svix.endpoint.update_headers(app.id, ep.id, EndpointHeadersIn(headers={"X-Shop": "1"}))
    assert svix.endpoint.get_headers(app.id, ep.id).headers == {"X-Shop": "1"}
    svix.endpoint.patch_headers(app.id, ep.id, EndpointHeadersPatchIn(
        headers={"X-Two": "2"}, delete_headers=["X-Shop"]))
    assert svix.endpoint.get_headers(app.id, ep.id).headers == {"X-Two": "2"}
    ep = svix.endpoint.patch(app.id, ep.id, EndpointPatch(description="the main hook"))
    assert ep.description == "the main hook" and ep.uid == "main"

    # Messages: some with an eventId; a duplicate eventId is a 409.
    sent = []
    for i in range(7):
        m = svix.message.create(app.id, MessageIn(
            event_type="order.created", payload={"n": i, "note": "ü"},
            event_id=f"ord-{i}" if i % 2 == 0 else None, tags=["t1"]))
        assert m.id.startswith("evt_") and m.event_type == "order.created"
        assert m.event_id == (f"ord-{i}" if i % 2 == 0 else None), m
        sent.append(m)
    dup = expect_http_error(409, lambda: svix.message.create(app.id, MessageIn(
        event_type="order.created", payload={"n": 0}, event_id="ord-0")))
    assert dup.code == "conflict", dup.to_dict()
    # Not subscribed: stored, listed, never delivered.
    quiet = svix.message.create(app.id, MessageIn(event_type="user.created", payload={"u": 1}))

    got = rx.wait_for(7)
    assert sorted(p["n"] for p, _ in got) == list(range(7)), got
    for _, headers in got:
        lower = {k.lower(): v for k, v in headers.items()}
        assert lower.get("x-two") == "2", lower
        assert lower.get("svix-id") and lower.get("webhook-id"), lower
    assert rx.refused == 0

    # The message as Svix returns it: the payload is the body.
    one = svix.message.get(app.id, sent[3].id)
    assert one.payload == {"n": 3, "note": "ü"} and one.tags == ["t1"], one
    assert svix.message.get(app.id, "ord-2").id == sent[2].id

    # Messages across pages, newest first, and back with prevIterator.
    msgs, pages = walk(lambda limit, it: svix.message.list(
        app.id, MessageListOptions(limit=limit, iterator=it)), 3)
    ids = [m.id for m in msgs]
    expected = [m.id for m in reversed(sent + [quiet])]
    assert ids == expected, (ids, expected)
    assert len(pages) == 3
    back = svix.message.list(app.id, MessageListOptions(limit=3, iterator=pages[1].prev_iterator))
    assert [m.id for m in back.data] == [m.id for m in pages[0].data]
    typed = svix.message.list(app.id, MessageListOptions(event_types=["user.created"]))
    assert [m.id for m in typed.data] == [quiet.id] and typed.done

    # Attempts by endpoint across pages, and by message. (The receiver has
    # them before Herald has recorded the last attempt: wait for it.)
    def all_attempts():
        atts, _ = walk(lambda limit, it: svix.message_attempt.list_by_endpoint(
            app.id, ep.id, MessageAttemptListByEndpointOptions(limit=limit, iterator=it)), 2)
        return atts if len(atts) == 7 else None

    atts = wait_until(all_attempts, "7 recorded attempts")
    assert len({a.id for a in atts}) == 7
    by_ep = lambda it=None: svix.message_attempt.list_by_endpoint(
        app.id, ep.id, MessageAttemptListByEndpointOptions(limit=2, iterator=it))
    p1 = by_ep()
    p2 = by_ep(p1.iterator)
    assert [a.id for a in p1.data + p2.data] == [a.id for a in atts[:4]]
    assert [a.id for a in by_ep(p2.prev_iterator).data] == [a.id for a in p1.data]
    assert all(a.status == 0 and a.response_status_code == 200 and a.trigger_type == 0 for a in atts)
    by_msg = svix.message_attempt.list_by_msg(app.id, sent[0].id)
    assert [a.msg_id for a in by_msg.data] == [sent[0].id] and by_msg.done
    one_att = svix.message_attempt.get(app.id, sent[0].id, by_msg.data[0].id)
    assert one_att.endpoint_id == ep.id and one_att.url == rx.url

    # A failure, then resend: a second, manual attempt that succeeds.
    rx.status = 400
    failing = svix.message.create(app.id, MessageIn(event_type="payment.completed", payload={"p": 1}))
    failed = wait_until(lambda: svix.message_attempt.list_by_msg(app.id, failing.id).data, "a failed attempt")
    assert failed[0].status == 2 and failed[0].response_status_code == 400
    rx.status = 200
    svix.message_attempt.resend(app.id, failing.id, ep.id)
    rx.wait_for(8)
    two = wait_until(lambda: [a for a in svix.message_attempt.list_by_msg(app.id, failing.id).data] if len(
        svix.message_attempt.list_by_msg(app.id, failing.id).data) == 2 else None, "the resent attempt")
    assert two[0].status == 0 and two[0].trigger_type == 1, two
    assert two[1].status == 2

    # Recover: failed deliveries since a time are sent again.
    rx.status = 400
    lost = svix.message.create(app.id, MessageIn(event_type="order.created", payload={"lost": True}))
    wait_until(lambda: svix.message_attempt.list_by_msg(app.id, lost.id).data, "a failed attempt")
    rx.status = 200
    task = svix.endpoint.recover(app.id, ep.id, RecoverIn(since=datetime.now(timezone.utc) - timedelta(hours=1)))
    assert task.id.startswith("qtask_"), task
    got = rx.wait_for(9)
    assert any(p.get("lost") for p, _ in got)

    stats = wait_until(lambda: (lambda st: st if st.success == 9 else None)(
        svix.endpoint.get_stats(app.id, ep.id)), "9 successes in the stats")
    assert stats.fail == 0 and stats.pending == 0, stats

    example = svix.endpoint.send_example(app.id, ep.id, EventExampleIn(event_type="order.created"))
    assert example.event_type == "order.created"
    rx.wait_for(10)

    # Event types: a platform's own, with a schema the payload must match.
    schema = {"type": "object", "required": ["amount"],
              "properties": {"amount": {"type": "integer", "minimum": 1}}}
    et = svix.event_type.create(EventTypeIn(
        name="invoice.paid", description="An invoice was paid", schemas={"1": schema}))
    assert et.name == "invoice.paid" and et.schemas == {"1": schema} and not et.archived, et
    expect_http_error(409, lambda: svix.event_type.create(
        EventTypeIn(name="invoice.paid", description="again")))
    expect_http_error(422, lambda: svix.event_type.create(
        EventTypeIn(name="invoice.sent", description="x", deprecated=True)))
    types, _ = walk(lambda limit, it: svix.event_type.list(
        EventTypeListOptions(limit=limit, iterator=it)), 5)
    names = [t.name for t in types]
    assert names == sorted(names) and "invoice.paid" in names and "order.created" in names, names
    assert len(names) == 14, names
    assert svix.event_type.get("invoice.paid").description == "An invoice was paid"
    assert svix.event_type.patch("invoice.paid", EventTypePatch(
        description="Paid")).description == "Paid"
    svix.endpoint.patch(app.id, ep.id, EndpointPatch(
        filter_types=["order.created", "payment.completed", "invoice.paid"]))
    paid = svix.message.create(app.id, MessageIn(event_type="invoice.paid", payload={"amount": 5}))
    bad = expect_http_error(422, lambda: svix.message.create(
        app.id, MessageIn(event_type="invoice.paid", payload={"amount": "five"})))
    assert "amount" in json.dumps(bad.to_dict()), bad.to_dict()
    got = rx.wait_for(11)
    assert any(p == {"amount": 5} for p, _ in got), got
    assert paid.event_type == "invoice.paid"
    # Delete archives (still listed with include_archived); expunge removes.
    svix.event_type.delete("invoice.paid")
    assert svix.event_type.get("invoice.paid").archived
    listed = svix.event_type.list(EventTypeListOptions(limit=250)).data
    assert "invoice.paid" not in [t.name for t in listed]
    listed = svix.event_type.list(EventTypeListOptions(limit=250, include_archived=True)).data
    assert "invoice.paid" in [t.name for t in listed]
    up = svix.event_type.update("invoice.paid", EventTypeUpdate(description="Back", archived=False))
    assert not up.archived and up.schemas is None, up
    svix.event_type.delete("invoice.paid", EventTypeDeleteOptions(expunge=True))
    expect_http_error(404, lambda: svix.event_type.get("invoice.paid"))
    expect_http_error(409, lambda: svix.event_type.delete("order.created"))

    # The app portal: Herald's one-time tenant portal link.
    access = svix.authentication.app_portal_access(
        app.id, AppPortalAccessIn(expiry=600, capabilities=["ViewBase"])
    )
    assert "/portal/" in access.url and access.url.endswith(access.token), access
    parsed = urllib.parse.urlsplit(access.url)

    def open_link():
        conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=10)
        conn.request("GET", parsed.path)
        res = conn.getresponse()
        res.read()
        conn.close()
        return res.status, res.getheader("Location")

    assert open_link() == (303, "/webhooks"), "the link opens the portal"
    assert open_link()[0] == 401, "and only once"
    expect_http_error(404, lambda: svix.authentication.app_portal_access("app_missing", AppPortalAccessIn()))
    expect_http_error(422, lambda: svix.authentication.app_portal_access(app.id, AppPortalAccessIn(expiry=10**9)))

    # Delete the endpoint, then the application.
    svix.endpoint.delete(app.id, ep.id)
    expect_http_error(404, lambda: svix.endpoint.get(app.id, ep.id))
    svix.application.delete(app.id)
    expect_http_error(404, lambda: svix.application.get(app.id))
    print("SDK FLOW OK")


if __name__ == "__main__":
    try:
        main()
    except Exception:
        import traceback

        traceback.print_exc()
        sys.exit(1)
