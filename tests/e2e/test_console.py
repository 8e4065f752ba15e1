"""The operator's console in a real browser: Debian's chromium, headless, driven by
Playwright, against the real stack (Kafka, Redis, the four services and the console,
auth on with a token per role).

- A reader walks Bob's order: place 5, modify to 6; the timeline shows 2 events with
  what each changed, and the time-travel slider at version 1 shows 5.
- A reader sees no admin action, and the console refuses the reader's POSTs (403).
- Hostile strings in event data and in a dead letter render as text: no script runs, no
  element is made of them, and the page's strict CSP reports no violation.
- An admin replays a dead letter (readable after a deployed upcaster), marks another one
  handled, runs a blue/green replay and a verify; the audit trail names the admin.
- The lag panel updates while load runs (lag rises while the projector is paused, falls
  back to 0 once it runs again).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from ordersource import codec
from tests.support.events import placed
from tests.support.http import place_body
from tests.support.read_side import append, append_raw
from tests.support.services import ServiceProcess, Services, isolated_settings, stopped_at_exit
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

HOSTILE = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>"\'&'
WATCH_CSP = """
window.__violations = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
"""


UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea, button')]
  .filter((el) => {
    const labels = el.labels ? [...el.labels].map((l) => l.textContent).join('') : '';
    const own = el.tagName === 'BUTTON' ? el.textContent : '';
    const text = el.getAttribute('aria-label') || labels || own;
    return !text.trim();
  })
  .map((el) => el.outerHTML.slice(0, 80))"""


# WCAG 2 contrast of every visible piece of text against the background it is drawn on
# (the nearest ancestor's opaque colour, translucent layers composed over it): 4.5:1, or
# 3:1 for large text (24 px, or 18.66 px bold). Disabled controls are exempt (WCAG 1.4.3).
LOW_CONTRAST = """() => {
  const rgba = (c) => { const m = c.match(/[\\d.]+/g).map(Number);
    return { r: m[0], g: m[1], b: m[2], a: m.length > 3 ? m[3] : 1 }; };
  const over = (top, under) => ({ r: top.r * top.a + under.r * (1 - top.a),
    g: top.g * top.a + under.g * (1 - top.a), b: top.b * top.a + under.b * (1 - top.a), a: 1 });
  const background = (el) => {
    const layers = [];
    for (let node = el; node; node = node.parentElement) {
      const c = rgba(getComputedStyle(node).backgroundColor);
      if (c.a > 0) layers.push(c);
      if (c.a >= 1) break;
    }
    const white = { r: 255, g: 255, b: 255, a: 1 };
    return layers.reverse().reduce((under, top) => over(top, under), white);
  };
  const luminance = (c) => {
    const ch = [c.r, c.g, c.b].map((v) => { v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2];
  };
  const low = [];
  for (const el of document.querySelectorAll('body *')) {
    const text = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!text || el.closest(':disabled') || !el.checkVisibility()) continue;
    const style = getComputedStyle(el);
    const back = background(el);
    const ink = over(rgba(style.color), back);
    const [hi, lo] = [luminance(ink), luminance(back)].sort((a, b) => b - a);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) {
      low.push(`${el.tagName} ${ratio.toFixed(2)} ${el.textContent.slice(0, 40)}`);
    }
  }
  return low;
}"""


def assert_accessible(page: Page) -> None:
    """Accessibility basics: every control has an accessible name (a label, aria-label or
    a button's text), so a screen reader can say what it is; every text is legible
    (contrast)."""
    assert page.evaluate(UNLABELLED) == [], page.url
    assert page.evaluate(LOW_CONTRAST) == [], page.url


class Stack:
    def __init__(self, env: dict[str, str], services: Services, tokens: dict[str, str]) -> None:
        self.env, self.services, self.tokens = env, services, tokens
        self.procs: dict[str, ServiceProcess] = {}

    def url(self, name: str, path: str = "") -> str:
        return self.procs[name].url(path)

    def client(self, name: str, role: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url(name),
            headers={"Authorization": f"Bearer {self.tokens[role]}"},
            timeout=30,
        )


@pytest.fixture(scope="module")
def stack(
    kafka: Any, redis_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("console")
    env = isolated_settings(kafka, redis_server, tmp / "state")
    tokens = {role: secrets.token_urlsafe(18) for role in ("writer", "reader", "admin")}
    env["ORDERS_AUTH_TOKENS"] = codec.dumps({r: [t] for r, t in tokens.items()}).decode()
    with stopped_at_exit(Services(env, tmp / "logs")) as services:
        found = Stack(env, services, tokens)
        for name in ("decider", "projector", "command-api", "query-api"):
            found.procs[name] = services(name, wait=False)
        # The console as deployed with an upcaster the projector lacks (see the module).
        found.procs["console"] = services(
            "console", module="tests.support.upcasting_console", wait=False
        )
        for proc in found.procs.values():  # started side by side, then each waited for
            proc.wait_http_ok(proc.url("/readyz"))
        yield found


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium")
    assert chromium, (
        "Debian's chromium is needed (make test installs it: deploy/local/prerequisites --browser)"
    )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="UTC")
    context.add_init_script(WATCH_CSP)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.set_default_timeout(20_000)
    yield opened
    context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"


def sign_in(page: Page, stack: Stack, role: str) -> None:
    page.goto(stack.url("console", "/console/"))
    page.get_by_label("Bearer token").fill(stack.tokens[role])
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#who-text")).to_contain_text(f"Signed in as {role}")


def screenshot(page: Page, name: str) -> None:
    """Into ORDERS_CONSOLE_SCREENSHOTS (docs/images when regenerating the docs' pictures)."""
    where = os.environ.get("ORDERS_CONSOLE_SCREENSHOTS")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(where) / f"{name}.png"), full_page=True)


def place_bobs_order(stack: Stack, order_id: str) -> None:
    with stack.client("command-api", "writer") as commands:
        placed_ = commands.post("/orders", json=place_body(order_id, qty=5))
        assert placed_.status_code == 201, placed_.text
        modified = commands.post(
            f"/orders/{order_id}/modify",
            json={"changes": [{"sku": "apple", "quantity": 6}]},
            headers={"If-Match": '"1"'},
        )
        assert modified.status_code == 200, modified.text
    with stack.client("query-api", "reader") as queries:
        fresh = queries.get(f"/orders/{order_id}", params={"min_version": 2, "wait_ms": 10_000})
        assert fresh.status_code == 200, fresh.text


def test_reader_walks_bobs_order_and_sees_no_admin_action(page: Page, stack: Stack) -> None:
    place_bobs_order(stack, "bob-1")
    response = page.goto(stack.url("console", "/console/"))
    assert response is not None
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "require-trusted-types-for 'script'" in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    sign_in(page, stack, "reader")

    page.get_by_label("Customer id").fill("bob")
    page.get_by_role("button", name="List").click()
    page.get_by_role("link", name="bob-1").click()
    timeline = page.locator("#timeline > li")
    expect(timeline).to_have_count(2)
    expect(timeline.nth(0)).to_contain_text("OrderPlaced")
    expect(timeline.nth(0)).to_contain_text("items[apple].quantity: — → 5")
    expect(timeline.nth(1)).to_contain_text("OrderModified")
    expect(timeline.nth(1)).to_contain_text("items[apple].quantity: 5 → 6")
    expect(page.locator("section[aria-labelledby=now-h] tbody")).to_contain_text("6")

    slider = page.get_by_label("Version", exact=True)
    slider.focus()
    page.keyboard.press("ArrowLeft")  # the keyboard moves it, as a mouse would
    expect(page.locator("#version-readout")).to_have_text("version 1")
    travelled = page.locator("#travelled")
    expect(travelled.locator("h3")).to_have_text("As of version 1")
    expect(travelled.locator("tbody tr").first.locator("td").nth(1)).to_have_text("5")
    assert_accessible(page)
    screenshot(page, "console-order")

    # The moment picker (the browser's local time is UTC here): after both events, 6.
    with stack.client("query-api", "reader") as queries:
        events = queries.get("/orders/bob-1/history").json()["events"]
    after = datetime.fromisoformat(events[1]["occurred_at"]) + timedelta(seconds=1)
    page.get_by_label("Moment (your local time)").fill(after.strftime("%Y-%m-%dT%H:%M:%S"))
    page.get_by_role("button", name="Show as of").click()
    expect(travelled.locator("h3")).to_have_text(f"As of {after:%Y-%m-%dT%H:%M:%S}.000Z")
    expect(travelled.locator("tbody tr").first.locator("td").nth(1)).to_have_text("6")

    page.get_by_role("link", name="Dead letters").click()
    expect(page.locator("#dlq-counts")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("link", name="Operations").click()
    expect(page.locator("#deciders table")).to_contain_text("ready")
    assert_accessible(page)
    for action in ("#replay-dead-letters", "#start-replay", "#run-verify"):
        expect(page.locator(action)).to_have_count(0)
    expect(page.get_by_role("button", name="Mark handled")).to_have_count(0)

    with stack.client("console", "reader") as as_reader:
        for path in ("dead-letters/replay", "replays", "verify"):
            refused = as_reader.post(f"/console/api/{path}", json={})
            assert refused.status_code == 403, (path, refused.text)
        refused = as_reader.post(
            "/console/api/dead-letters/handled", json={"partition": 0, "offset": 0}
        )
        assert refused.status_code == 403
    with stack.client("console", "writer") as as_writer:  # a writer may not even look
        assert as_writer.get("/console/api/status").status_code == 403
    assert httpx.get(stack.url("console", "/console/api/status")).status_code == 401
    assert page.evaluate("window.__violations") == []


def test_hostile_event_data_renders_as_text(page: Page, stack: Stack) -> None:
    """Markup in every free-text field an event carries (payment_ref, carrier,
    tracking_number, reason through the command API; command_id and event_id, which only
    the log itself could hold, appended to it directly) and in a dead letter."""
    with stack.client("command-api", "writer") as commands:
        for order_id in ("mallory-1", "mallory-2"):
            assert commands.post("/orders", json=place_body(order_id, qty=1)).status_code == 201
        steps = [
            ("mallory-1", "pay", {"amount_cents": 120, "payment_ref": HOSTILE}),
            ("mallory-1", "ship", {"carrier": HOSTILE, "tracking_number": HOSTILE}),
            ("mallory-2", "cancel", {"reason": HOSTILE}),
        ]
        for order_id, step, body in steps:
            done = commands.post(f"/orders/{order_id}/{step}", json=body)
            assert done.status_code == 200, done.text
    bootstrap, topic = stack.env["ORDERS_KAFKA_BOOTSTRAP"], stack.env["ORDERS_EVENTS_TOPIC"]
    forged = placed("mallory-3", "c1").model_copy(
        update={"command_id": HOSTILE, "event_id": f"e-{HOSTILE}"}
    )
    append(bootstrap, topic, [forged])
    with stack.client("query-api", "reader") as queries:
        for order_id, version in (("mallory-1", 3), ("mallory-2", 2), ("mallory-3", 1)):
            seen = queries.get(
                f"/orders/{order_id}", params={"min_version": version, "wait_ms": 10_000}
            )
            assert seen.status_code == 200, seen.text
    append_raw(bootstrap, topic, b"m", HOSTILE.encode())
    with stack.client("console", "reader") as console:  # the projector dead-letters it
        wait_until(
            lambda: any(
                HOSTILE in (d["value"] or "")
                for d in console.get("/console/api/dead-letters").json()["letters"]
            ),
            timeout=30,
            message="the hostile record was not dead-lettered",
        )

    def nothing_injected() -> None:
        assert page.locator("img[src=x]").count() == 0
        assert page.locator("main script").count() == 0
        assert page.evaluate("window.__xss") is None
        assert page.evaluate("window.__violations") == []

    sign_in(page, stack, "reader")
    for order_id, events, shown in (
        ("mallory-1", 3, 3),  # payment_ref, carrier, tracking_number, in the events' data
        ("mallory-2", 2, 1),  # the reason
        ("mallory-3", 1, 1),  # the command id, on the timeline
    ):
        page.goto(stack.url("console", f"/console/#/orders/{order_id}"))
        timeline = page.locator("#timeline > li")
        expect(timeline).to_have_count(events)
        for n in range(events):
            timeline.nth(n).locator("summary").click()
        text = page.locator("main").inner_text()
        escaped = HOSTILE.replace('"', '\\"')  # inside the event's JSON
        assert text.count(HOSTILE) + text.count(escaped) >= shown, (order_id, text)
        nothing_injected()

    page.get_by_role("link", name="Dead letters").click()
    expect(page.locator("#dead-letters pre").filter(has_text="<script>")).to_have_count(1)
    nothing_injected()

    # An order may be called "..": the page reads it as that order, not as a path step.
    with stack.client("command-api", "writer") as commands:
        assert commands.post("/orders", json=place_body("..", qty=3)).status_code == 201
    with stack.client("query-api", "reader") as queries:  # (%2E: httpx resolves a "..")
        seen = queries.get("/orders/%2E%2E", params={"min_version": 1, "wait_ms": 10_000})
        assert seen.status_code == 200, seen.text
    page.goto(stack.url("console", "/console/#/orders/.."))
    expect(page.locator("#timeline > li")).to_have_count(1, timeout=20_000)
    expect(page.get_by_role("heading", name="Order ..", exact=True)).to_be_visible()


def test_admin_replays_dead_letters_runs_replay_and_verify(page: Page, stack: Stack) -> None:
    bootstrap, topic = stack.env["ORDERS_KAFKA_BOOTSTRAP"], stack.env["ORDERS_EVENTS_TOPIC"]
    legacy = placed("legacy-1").model_dump(mode="json") | {"schema_version": 0}
    append_raw(bootstrap, topic, b"legacy-1", codec.dumps(legacy))
    append_raw(bootstrap, topic, b"junk", b"\xff{not json")
    with stack.client("console", "admin") as console:

        def dead_lettered() -> bool:
            found = console.get("/console/api/dead-letters").json()["letters"]
            legacy_in = any("no upcaster for OrderPlaced" in d["reason"] for d in found)
            junk_in = any(d["value_base64"] is not None for d in found)  # the non-UTF-8 one
            return legacy_in and junk_in

        wait_until(dead_lettered, timeout=30, message="the projector did not dead-letter both")

    sign_in(page, stack, "admin")
    page.get_by_role("link", name="Dead letters").click()
    rows = page.locator("#dead-letters tbody tr")
    expect(rows.filter(has_text="no upcaster for OrderPlaced")).to_have_count(1)
    assert_accessible(page)  # the admin's buttons included
    screenshot(page, "console-dead-letters")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Replay dead letters").click()
    result = page.locator("#dlq-job")
    expect(result.locator("[data-state]")).to_have_attribute("data-state", "done", timeout=60_000)
    expect(result).to_contain_text("dead letter(s) are readable with the current code")
    expect(result).to_contain_text("is current (was")
    with stack.client("query-api", "reader") as queries:
        assert queries.get("/orders/legacy-1").json()["version"] == 1  # projected at last

    junk = rows.filter(has_text="not UTF-8")
    expect(junk).to_have_count(1)  # still unreadable: still listed
    page.once("dialog", lambda dialog: dialog.accept())
    junk.get_by_role("button", name="Mark handled").click()
    expect(rows.filter(has_text="not UTF-8")).to_have_count(0)

    page.get_by_role("link", name="Operations").click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Start blue/green replay").click()
    expect(page.locator("#replay-job [data-state]")).to_have_attribute(
        "data-state", "done", timeout=60_000
    )
    expect(page.locator("#replay-job")).to_contain_text("is current (was")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Run verify").click()
    expect(page.locator("#verify-result")).to_contain_text(
        "the views equal the fold of", timeout=60_000
    )

    page.reload()
    audit = page.locator("#audit tbody tr")
    expect(audit.first).to_be_visible()
    assert_accessible(page)
    screenshot(page, "console-operations")
    actions = ("dead-letters.replay", "dead-letters.mark-handled", "replay.blue-green", "verify")
    wanted = {(action, outcome) for action in actions for outcome in ("requested", "done")}
    with stack.client("console", "admin") as console:
        me = console.get("/console/api/session").json()["name"]

        def audited() -> set[tuple[str, str]]:
            entries = console.get("/console/api/audit").json()["entries"]
            steps = {(e["action"], e["outcome"]) for e in entries if e["actor"]["name"] == me}
            return wanted - steps

        # (a job's last step is written just after the job says done)
        wait_until(lambda: not audited(), timeout=20, message="audit steps missing")
    expect(audit.filter(has_text="dead-letters.replay").first).to_contain_text(f"admin {me}")
    assert page.evaluate("window.__violations") == []


def test_lag_panel_updates_while_load_runs(page: Page, stack: Stack) -> None:
    sign_in(page, stack, "reader")
    page.get_by_role("link", name="Projection").click()
    expect(page.locator("#total-lag")).to_have_text("0", timeout=30_000)
    samples = int(page.locator("#lag-chart").get_attribute("data-samples") or 0)

    bootstrap, topic = stack.env["ORDERS_KAFKA_BOOTSTRAP"], stack.env["ORDERS_EVENTS_TOPIC"]
    stop = threading.Event()

    def load() -> None:  # a steady stream of new orders into the log, ~200 events/s
        n = 0
        while not stop.is_set() and n < 20_000:
            append(bootstrap, topic, [placed(f"load-{n + i}") for i in range(50)], chunk=50)
            n += 50
            stop.wait(0.25)

    loader = threading.Thread(target=load, daemon=True)
    loader.start()
    projector = stack.procs["projector"]
    try:
        os.kill(projector.pid, signal.SIGSTOP)  # the views fall behind the log...
        try:
            wait_until(
                lambda: int(page.locator("#total-lag").text_content() or 0) > 100,
                timeout=30,
                message="the lag panel did not show the lag rising",
            )
            screenshot(page, "console-projection")
        finally:
            os.kill(projector.pid, signal.SIGCONT)  # ...and catch up once it runs again
    finally:
        stop.set()
        loader.join(timeout=30)
    expect(page.locator("#total-lag")).to_have_text("0", timeout=60_000)
    chart = page.locator("#lag-chart")
    later = int(chart.get_attribute("data-samples") or 0)
    assert later > samples, (samples, later)  # it kept sampling
    assert page.locator("#lag-chart polyline").count() == 1
    peak = re.search(r"highest (\d+)", chart.get_attribute("aria-label") or "")
    assert peak is not None
    assert int(peak[1]) > 100  # the chart holds the rise, now back at 0


def test_the_contrast_check_sees_faint_text(page: Page, stack: Stack) -> None:
    """The check above is not vacuous: light grey on white (1.2:1) is caught."""
    page.goto(stack.url("console", "/console/"))
    assert page.evaluate(LOW_CONTRAST) == []
    page.evaluate(
        """() => { const p = document.createElement('p');
        p.textContent = 'faint'; p.style.color = '#eeeeee'; document.body.append(p); }"""
    )
    assert page.evaluate(LOW_CONTRAST) == ["P 1.16 faint"]
