// End-to-end test of Herald's admin panel in real headless Chromium
// (Debian's /usr/bin/chromium, driven by playwright-core over the DevTools
// protocol). Run by tests/it/ui.rs:
//
//   node tests/ui/e2e.js <base url> <user> <password> <receiver url> [failing receiver url]
//
// It logs in, adds an endpoint pointing at the loopback receiver, sends a
// test event, sees it succeed in the delivery log, opens the delivery and
// resends it, rotates the secret and logs out. Every page it visits is
// saved as a screenshot under target/ui-screenshots/ (or $SCREENSHOT_DIR).
//
// Then the layout pass (issue 15): with a second endpoint whose receiver
// answers 500 (so an alert fires, given --alert-down-after 1), every page
// of the panel at 390x844 and at 1280x800 must be no wider than the
// viewport, and every section of the navigation must be reachable (shown,
// or shown by opening the menu) and clickable; each page is saved as
// w390-<page>.png and w1280-<page>.png.
// Prints "E2E OK" and exits 0 on success; anything else is a failure.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const { chromium } = require("playwright-core");

const [base, user, password, receiver, failing] = process.argv.slice(2);
if (!base || !user || !password || !receiver) {
  console.error("usage: node e2e.js <base url> <user> <password> <receiver url>");
  process.exit(2);
}
const shots = process.env.SCREENSHOT_DIR ||
  path.join(__dirname, "..", "..", "target", "ui-screenshots");
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";

let step = 0;
async function shot(page, name) {
  step += 1;
  const file = path.join(shots, `${String(step).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`screenshot ${file}`);
}

function expect(cond, what) {
  if (!cond) throw new Error(`expectation failed: ${what}`);
  console.log(`ok - ${what}`);
}

// Reloads until `cond` holds (deliveries are asynchronous), bounded.
async function reloadUntil(page, cond, what, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await page.waitForTimeout(300);
    await page.reload();
  }
}

const WIDTHS = [
  { width: 390, height: 844 },
  { width: 1280, height: 800 },
];

// Every section of the navigation (an operator sees them all) and the
// account link next to it.
const SECTIONS = ["/", "/webhooks", "/deliveries", "/alerts", "/event-types", "/api-reference", "/tenants", "/keys", "/users", "/backups", "/account"];

// The page is no wider than the viewport (nothing scrolls sideways).
async function noOverflow(page, what) {
  const { doc, body, inner } = await page.evaluate(() => ({
    doc: document.documentElement.scrollWidth,
    body: document.body.scrollWidth,
    inner: window.innerWidth,
  }));
  expect(doc <= inner && body <= inner, `${what}: no horizontal overflow (${doc}/${body} <= ${inner})`);
}

// A nav link: shown, or shown once the menu is opened; then clicked.
async function reachSection(page, href) {
  const link = page.locator(`header .menu a[href="${href}"]`).first();
  let opened = false;
  if (!(await link.isVisible())) {
    const button = page.locator("label.menu-button");
    expect(await button.isVisible(), `the menu button shows when ${href} is hidden`);
    await button.click();
    opened = true;
  }
  expect(await link.isVisible(), `${href} is reachable${opened ? " through the menu" : ""}`);
  if (opened) {
    await noOverflow(page, `the open menu (${href})`);
    if (href === "/") {
      const file = path.join(shots, `w${page.viewportSize().width}-menu-open.png`);
      await page.screenshot({ path: file });
      console.log(`screenshot ${file}`);
    }
  }
  await link.click();
  await page.waitForURL((u) => new URL(u).pathname === href);
}

async function layoutPass(page, pages) {
  for (const size of WIDTHS) {
    await page.setViewportSize(size);
    for (const [name, url] of pages) {
      await page.goto(`${base}${url}`);
      await noOverflow(page, `${name} at ${size.width}px`);
      // Status and health stay in sight: no table hides them off to the side.
      const hidden = await page.evaluate(() => Array.from(
        document.querySelectorAll("tbody .badge, tbody td[data-label='Health']"),
      ).filter((el) => {
        const r = el.getBoundingClientRect();
        return r.width === 0 || r.left < 0 || r.right > window.innerWidth;
      }).map((el) => el.textContent.trim()));
      expect(hidden.length === 0, `${name} at ${size.width}px: every status and health cell is in sight (${hidden.join(", ")})`);
      const file = path.join(shots, `w${size.width}-${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      console.log(`screenshot ${file}`);
    }
    await page.goto(`${base}/webhooks`);
    for (const href of SECTIONS) await reachSection(page, href);
    // The red count of firing alerts is in sight without opening the menu.
    await page.goto(`${base}/`);
    if (size.width >= 1280) {
      // Wide: the brand and the session share the first row, every
      // section the second; nothing wraps in between.
      const rows = await page.evaluate(() => {
        const top = (el) => Math.round(el.getBoundingClientRect().top);
        return {
          brand: top(document.querySelector(".brand")),
          logout: top(document.querySelector(".logout button")),
          links: Array.from(document.querySelectorAll(".mainnav a")).map(top),
        };
      });
      expect(new Set(rows.links).size === 1, `the sections are one row at ${size.width}px (${rows.links})`);
      expect(Math.abs(rows.brand - rows.logout) < 24 && rows.links[0] > rows.logout,
        `brand and session above the sections at ${size.width}px (${JSON.stringify(rows)})`);
    }
    expect(await page.locator("header .count-bad:visible").count() >= 1,
      `the alerts count is shown at ${size.width}px`);
    const banner = await page.locator(".alert-banner").boundingBox();
    expect(banner && banner.height <= 64, `the alert banner is compact at ${size.width}px (${banner && banner.height}px)`);
  }
  await page.setViewportSize({ width: 1280, height: 860 });
}

async function main() {
  fs.mkdirSync(shots, { recursive: true });
  for (const f of fs.readdirSync(shots)) {
    if (f.endsWith(".png")) fs.rmSync(path.join(shots, f));
  }
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "herald-e2e-"));
  // A fresh profile (--user-data-dir) each run, through playwright's
  // persistent-context API, which is how it passes that flag.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    viewport: { width: 1280, height: 860 },
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
      "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync",
    ],
  });
  const errors = [];
  try {
    const page = context.pages()[0] || (await context.newPage());
    page.setDefaultTimeout(15000);
    // Any CSP violation or script error fails the run.
    // (A 4xx page the test asks for on purpose logs "Failed to load
    // resource"; that is not an error of the page.)
    page.on("console", (m) => {
      if (m.type() === "error" && !/status of 4\d\d/.test(m.text())) errors.push(m.text());
    });
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("dialog", (d) => d.accept());

    // Log in.
    await page.goto(`${base}/webhooks`);
    expect(page.url().includes("/login"), "an anonymous visit is sent to the login page");
    await shot(page, "login");
    await page.fill("#username", user);
    await page.fill("#password", "not-the-password");
    await page.click("button[type=submit]");
    expect((await page.textContent("#login-error")).includes("Invalid username or password"),
      "a wrong password is refused with the generic message");
    await shot(page, "login-error");
    await page.fill("#password", password);
    await page.click("button[type=submit]");
    await page.waitForURL(`${base}/webhooks`);
    expect(true, "login returns to the page asked for");

    // A tenant first (operators only): create one, it becomes the current tenant.
    await page.goto(`${base}/tenants`);
    await page.fill("#tenant-id", "company_xyz");
    await page.fill("#tenant-name", "Company XYZ");
    await page.click("text=Create tenant");
    await page.waitForURL(/\/tenants\?notice=created/);
    await shot(page, "tenants");
    await page.goto(`${base}/`);
    await shot(page, "dashboard-empty");

    // Event types: a custom type with a JSON Schema (a bad schema is
    // reported next to its field first), and an archived one.
    await page.click("nav >> text=Event types");
    await page.waitForURL(`${base}/event-types`);
    await page.fill("#type-name", "invoice.paid");
    await page.fill("#type-description", "An invoice was paid");
    await page.fill("#type-schema", "{ not json");
    await page.click("button:has-text('Add event type')");
    expect(await page.isVisible("#schema-error"), "a bad schema is reported next to its field");
    await shot(page, "event-types-error");
    await page.fill("#type-schema", JSON.stringify({
      type: "object", required: ["object"],
      properties: { object: { type: "object", required: ["amount"] } },
    }, null, 2));
    await page.click("button:has-text('Add event type')");
    await page.waitForURL(/\/event-types\?notice=created/);
    await page.fill("#type-name", "invoice.voided");
    await page.click("button:has-text('Add event type')");
    await page.waitForURL(/\/event-types\?notice=created/);
    await page.click("form[action='/event-types/invoice.voided/archive'] button");
    await page.waitForURL(/\/event-types\?notice=archived/);
    expect((await page.textContent("main")).includes("Archived"), "the archived type is listed as archived");
    await shot(page, "event-types");
    await page.click("a[href='/event-types/invoice.paid']");
    await page.waitForURL(`${base}/event-types/invoice.paid`);
    expect((await page.inputValue("#type-schema")).includes("amount"), "the edit form shows the schema");
    await shot(page, "event-type");

    // Settings -> Webhooks -> Add Webhook Endpoint.
    await page.click("nav >> text=Webhooks");
    await shot(page, "webhooks-empty");
    await page.click("text=+ Add Webhook Endpoint");
    await page.waitForURL(`${base}/webhooks/new`);
    await shot(page, "webhook-new");
    // First an invalid submission: the error shows next to the field.
    await page.fill("#url", "not a url");
    await page.check("input[value='payment.completed']");
    await page.click("button:has-text('Add endpoint')");
    expect(await page.isVisible("#url-error"), "a bad URL is reported next to the URL field");
    await shot(page, "webhook-new-error");
    expect(await page.isChecked("input[value='payment.completed']"),
      "the form keeps what was entered");
    expect(await page.isVisible("input[value='invoice.paid']") && await page.isVisible("input[value='invoice.*']"),
      "the endpoint form offers the custom type and its category");
    expect(await page.locator("input[value='invoice.voided']").count() === 0,
      "an archived type is not offered for a new subscription");
    await page.fill("#url", receiver);
    await page.check("input[value='order.*']");
    await page.fill("#description", "<script>alert(1)</script> main endpoint");
    await page.click("button:has-text('Add endpoint')");
    await page.waitForURL(/\/webhooks\/ep_[0-9A-Z]+\?notice=created/);
    const endpointUrl = page.url().split("?")[0];
    expect((await page.textContent(".description")).includes("<script>alert(1)</script>"),
      "the description renders as text");
    const secret1 = (await page.textContent("#secret-value")).trim();
    expect(secret1.startsWith("whsec_"), "the signing secret is shown");
    await shot(page, "webhook-created");

    // Send a test event and see it succeed in the delivery log.
    await page.selectOption("#test-event", "payment.completed");
    await page.click("button:has-text('Send test event')");
    await page.waitForURL(/notice=test_sent/);
    await page.click("nav >> text=Delivery logs");
    await reloadUntil(page, async () => (await page.locator("tbody .badge-ok").count()) > 0,
      "the test delivery succeeds");
    expect((await page.textContent("tbody")).includes("payment.completed"),
      "the delivery log lists the test event");
    await shot(page, "deliveries");

    // Open the delivery and resend it.
    await page.click("tbody a.row-link");
    await page.waitForURL(/\/deliveries\/dlv_/);
    const deliveryUrl = page.url();
    expect(await page.isVisible("text=Attempt 1"), "the delivery page shows its attempt");
    expect((await page.textContent("#envelope")).includes("\"api_version\""),
      "the delivery page shows the envelope");
    await shot(page, "delivery");
    await page.click("button:has-text('Resend')");
    await page.waitForURL(/notice=resent/);
    await reloadUntil(page, async () => (await page.locator("text=Attempt 2").count()) > 0,
      "the resend makes a second attempt");
    await shot(page, "delivery-resent");

    // Rotate the secret.
    await page.goto(endpointUrl);
    await page.click("button:has-text('Rotate secret')");
    await page.waitForURL(/notice=rotated/);
    await page.click("summary:has-text('Reveal secret')");
    const secret2 = (await page.textContent("#secret-value")).trim();
    expect(secret2.startsWith("whsec_") && secret2 !== secret1, "rotation shows a new secret");
    expect(await page.isVisible("text=The previous secret keeps signing until"),
      "the overlap of the old secret is explained");
    await shot(page, "webhook-rotated");

    // A second endpoint whose receiver answers 500: its delivery shows the
    // status as an error, and (with --alert-down-after 1) an alert fires.
    const pages = [
      ["dashboard", "/"],
      ["webhooks", "/webhooks"],
      ["webhook-new", "/webhooks/new"],
      ["webhook", new URL(endpointUrl).pathname],
      ["deliveries", "/deliveries"],
      ["delivery", new URL(deliveryUrl).pathname],
      ["alerts", "/alerts"],
      ["event-types", "/event-types"],
      ["event-type", "/event-types/invoice.paid"],
      ["api-reference", "/api-reference"],
      ["tenants", "/tenants"],
      ["keys", "/keys"],
      ["users", "/users"],
      ["backups", "/backups"],
      ["account", "/account"],
    ];
    if (failing) {
      await page.goto(`${base}/webhooks/new`);
      await page.fill("#url", failing);
      await page.check("input[value='order.*']");
      await page.click("button:has-text('Add endpoint')");
      await page.waitForURL(/\/webhooks\/ep_[0-9A-Z]+\?notice=created/);
      const failingUrl = page.url().split("?")[0];
      await page.selectOption("#test-event", "order.created");
      await page.click("button:has-text('Send test event')");
      await page.waitForURL(/notice=test_sent/);
      await reloadUntil(page, async () => (await page.locator(".alert-banner").count()) > 0,
        "an alert fires for the failing endpoint");
      await page.click("#deliveries tbody a.row-link");
      await page.waitForURL(/\/deliveries\/dlv_/);
      expect(await page.locator(".attempt-meta .http-bad:has-text('HTTP 500')").count() === 1,
        "a 500 answer is shown as an error");
      pages.push(["webhook-failing", new URL(failingUrl).pathname]);
      pages.push(["delivery-500", new URL(page.url()).pathname]);
    }
    // The API reference, rendered from /api/v1/openapi.json: an operation
    // with its parameters, body fields and error codes.
    await page.goto(`${base}/api-reference`);
    const create = page.locator("article#webhooks_create");
    expect(await create.locator(".api-path:has-text('/api/v1/webhooks')").count() === 1,
      "the API reference lists POST /api/v1/webhooks");
    expect(await create.locator("td:has-text('X-Tenant-ID')").count() === 1,
      "its X-Tenant-ID header is listed");
    expect(await create.locator(".api-codes code:has-text('duplicate_url')").count() === 1,
      "its error codes are listed");
    await layoutPass(page, pages);

    // Paused: a compact banner on a phone too, with its resume button.
    await page.goto(`${base}/`);
    await page.click("button:has-text('Pause deliveries')");
    await page.waitForSelector(".paused-banner");
    for (const size of WIDTHS) {
      await page.setViewportSize(size);
      await page.goto(`${base}/webhooks`);
      await noOverflow(page, `the paused banner at ${size.width}px`);
      const box = await page.locator(".paused-banner").boundingBox();
      expect(box && box.height <= 72, `the paused banner is compact at ${size.width}px (${box && box.height}px)`);
      await page.screenshot({ path: path.join(shots, `w${size.width}-paused.png`) });
    }
    await page.click("button:has-text('Resume deliveries')");
    await page.waitForURL(`${base}/`);
    expect(await page.locator(".paused-banner").count() === 0, "deliveries resume");

    // Log out: the session is gone.
    await page.click("button:has-text('Log out')");
    await page.waitForURL(/\/login\?notice=logged_out/);
    await shot(page, "logged-out");
    for (const size of WIDTHS) {
      await page.setViewportSize(size);
      await page.goto(`${base}/login`);
      await noOverflow(page, `login at ${size.width}px`);
      await page.screenshot({ path: path.join(shots, `w${size.width}-login.png`), fullPage: true });
    }
    await page.goto(`${base}/webhooks`);
    expect(page.url().includes("/login"), "after logout the panel needs a login again");

    expect(errors.length === 0, `no console errors or CSP violations (${errors.join(" | ")})`);
    console.log("E2E OK");
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`E2E FAILED: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
