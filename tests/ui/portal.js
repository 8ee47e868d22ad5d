// The embeddable tenant portal (issue 19) in real headless Chromium
// (Debian's /usr/bin/chromium, driven by playwright-core). Run by
// tests/it/portal.rs:
//
//   node tests/ui/portal.js <herald base url> <platform key> <allowed embedder url> <refused embedder url>
//
// Both embedders are tiny pages on other loopback origins (another port)
// that put `?src=` into an <iframe id="portal">; Herald runs with
// `--portal-frame-ancestors <allowed embedder>` and a theme (name, accent,
// a logo the allowed embedder serves). The platform creates a portal link
// for tenant_a over the API; inside the allowed embedder's frame the
// portal shows tenant_a's endpoint (never tenant_b's) and adds one; the
// same link opened again is refused; the refused embedder's frame is
// blocked by the browser (a frame-ancestors violation); a read-only link
// shows no form. Screenshots go to $SCREENSHOT_DIR (portal-*.png).
// Prints "PORTAL OK" and exits 0 on success.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const { chromium } = require("playwright-core");

const [base, key, allowed, refused] = process.argv.slice(2);
if (!base || !key || !allowed || !refused) {
  console.error("usage: node portal.js <base> <platform key> <allowed embedder> <refused embedder>");
  process.exit(2);
}
const shots = process.env.SCREENSHOT_DIR ||
  path.join(__dirname, "..", "..", "target", "ui-screenshots", "portal");
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";

function expect(cond, what) {
  if (!cond) throw new Error(`expectation failed: ${what}`);
  console.log(`ok - ${what}`);
}

async function api(method, p, body, tenant) {
  const headers = { Authorization: `Bearer ${key}`, "Content-Type": "application/json" };
  if (tenant) headers["X-Tenant-ID"] = tenant;
  const res = await fetch(`${base}${p}`, { method, headers, body: body && JSON.stringify(body) });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${p}: ${res.status} ${text}`);
  return JSON.parse(text);
}

async function portalLink(body) {
  return (await api("POST", "/api/v1/portal-sessions", body)).url;
}

function embed(embedder, url) {
  return `${embedder}/?src=${encodeURIComponent(url)}`;
}

async function shot(page, name) {
  const file = path.join(shots, `portal-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`screenshot ${file}`);
}

async function main() {
  fs.mkdirSync(shots, { recursive: true });
  await api("POST", "/api/v1/webhooks", { url: "https://a.example/hooks", events: ["*"], description: "Tenant A's shop" }, "tenant_a");
  await api("POST", "/api/v1/webhooks", { url: "https://b.example/hooks", events: ["*"] }, "tenant_b");

  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "herald-portal-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
      "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync",
    ],
  });
  const consoleErrors = [];
  try {
    const page = context.pages()[0] || (await context.newPage());
    page.setDefaultTimeout(15000);
    page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
    page.on("dialog", (d) => d.accept());

    // Embedded by the allowed origin: tenant_a's endpoints, themed.
    const link = await portalLink({ tenant_id: "tenant_a", return_url: `${allowed}/settings` });
    await page.goto(embed(allowed, link));
    const frame = page.frameLocator("#portal");
    await frame.locator("text=https://a.example/hooks").first().waitFor();
    expect(true, "the embedded portal shows tenant_a's endpoint");
    const body = await frame.locator("body").innerText();
    expect(!body.includes("b.example"), "and not tenant_b's");
    expect(body.includes("BrainSAIT Store"), "the theme's product name");
    expect(await frame.locator('a[href="/tenants"], a[href="/keys"], a[href="/users"], a[href="/account"], #tenant-switch').count() === 0,
      "no operator, account or switcher links");
    const logoOk = await frame.locator(".brand-logo").evaluate((img) => img.complete && img.naturalWidth > 0);
    expect(logoOk, "the platform's logo loads inside the portal");
    const accent = await frame.locator(".btn-primary").first().evaluate((el) => getComputedStyle(el).backgroundColor);
    expect(accent === "rgb(10, 124, 255)", `the accent colour themes the buttons (${accent})`);
    await shot(page, "embedded-webhooks");

    // It adds an endpoint inside the frame.
    await frame.locator("text=+ Add Webhook Endpoint").first().click();
    await frame.locator("#url").fill("https://a.example/added-in-portal");
    await frame.locator("input[name=events][value='*']").check();
    await shot(page, "embedded-new");
    await frame.locator("button[type=submit]").last().click();
    await frame.locator("text=https://a.example/added-in-portal").first().waitFor();
    expect(true, "an endpoint added inside the frame");
    await shot(page, "embedded-added");
    const listed = await api("GET", "/api/v1/webhooks", null, "tenant_a");
    expect(listed.data.some((e) => e.url === "https://a.example/added-in-portal"), "the platform's API sees it");
    await frame.locator("a[href='/deliveries']").first().click();
    await frame.locator("h1").first().waitFor();
    await shot(page, "embedded-deliveries");

    // The same link again: refused.
    const again = await context.newPage();
    const res = await again.goto(link);
    expect(res.status() === 401, `the same link used twice is refused (${res.status()})`);
    expect((await again.textContent("body")).includes("already used"), "with a page asking for a new link");
    await shot(again, "link-used-twice");
    await again.close();

    // Embedded by an origin the setting does not list: the browser blocks it.
    const before = consoleErrors.length;
    const blocked = await context.newPage();
    const blockedErrors = [];
    blocked.on("console", (m) => { if (m.type() === "error") blockedErrors.push(m.text()); });
    await blocked.goto(embed(refused, await portalLink({ tenant_id: "tenant_a" })));
    const deadline = Date.now() + 10000;
    while (!blockedErrors.some((e) => e.includes("frame-ancestors")) && Date.now() < deadline) {
      await blocked.waitForTimeout(100);
    }
    expect(blockedErrors.some((e) => e.includes("frame-ancestors")),
      `the refused origin's frame is blocked by frame-ancestors (${blockedErrors.join(" | ")})`);
    const framed = blocked.frames().find((f) => f !== blocked.mainFrame());
    const inside = framed ? await framed.evaluate(() => document.body ? document.body.innerText : "").catch(() => "") : "";
    expect(!inside.includes("a.example"), "nothing of the portal shows in it");
    await shot(blocked, "refused-embedder");
    await blocked.close();
    consoleErrors.length = before;

    // Read-only: no form at all.
    const ro = await portalLink({ tenant_id: "tenant_a", read_only: true });
    await page.goto(embed(allowed, ro));
    await frame.locator("text=https://a.example/hooks").first().waitFor();
    expect(await frame.locator("form[method=post]").count() === 0, "a read-only portal lists no form");
    expect(await frame.locator("text=+ Add Webhook Endpoint").count() === 0, "and no add button");
    await shot(page, "read-only-webhooks");
    await frame.locator("text=https://a.example/hooks").first().click();
    await frame.locator("#secret").waitFor();
    expect(await frame.locator("form[method=post]").count() === 0, "an endpoint's page in read-only has no form");
    await shot(page, "read-only-endpoint");

    const real = consoleErrors.filter((e) => !/status of 4\d\d/.test(e));
    expect(real.length === 0, `no console errors in the portal (${real.join(" | ")})`);
    console.log("PORTAL OK");
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
