#!/usr/bin/env python3
"""The dashboard in a real browser (headless Chromium, driven by Playwright).

Run by crates/populous-cli/tests/dashboard.rs against a real `populous serve`
with a real pool; it reads what it needs from the environment, never from
its arguments (so no token reaches a process list or a log):

  DASH_URL          http://127.0.0.1:PORT
  DASH_DEV_TOKEN    secret of a token that may write folder dev only
  DASH_ADMIN_TOKEN  secret of an admin token
  DASH_SHOTS        directory for the screenshots (made if missing)
  DASH_CHROMIUM     the browser (default /usr/bin/chromium; never downloaded)

Exits non-zero on the first failed check, saying which.
"""

import os
import re
import sys

from playwright.sync_api import sync_playwright

URL = os.environ["DASH_URL"].rstrip("/")
DEV = os.environ["DASH_DEV_TOKEN"]
ADMIN = os.environ["DASH_ADMIN_TOKEN"]
SHOTS = os.environ["DASH_SHOTS"]
CHROMIUM = os.environ.get("DASH_CHROMIUM", "/usr/bin/chromium")
# Names only prod has: none may appear in any page the dev token gets.
PROD_ONLY = ["prodsecret"]

checks = 0


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        print(f"FAIL: {what}", flush=True)
        sys.exit(1)
    print(f"ok: {what}", flush=True)


def shot(page, name):
    path = os.path.join(SHOTS, f"{name}.png")
    page.screenshot(path=path, full_page=True)
    print(f"screenshot: {path}", flush=True)


def no_secrets(html, where):
    check(DEV not in html and ADMIN not in html, f"{where}: no token secret in the page")


def sign_in(page, token):
    page.goto(f"{URL}/ui/login")
    page.fill("input[name=token]", token)
    with page.expect_navigation():
        page.click("#login button[type=submit]")


def csrf_of(page):
    return page.locator("input[name=csrf]").first.get_attribute("value")


os.makedirs(SHOTS, exist_ok=True)
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])

    # ---- without a session: the sign-in form, never data ----------------
    ctx = browser.new_context()
    page = ctx.new_page()
    for path in ["/ui/volumes", "/ui/volumes/prod/prodsecret-db", "/ui/audit", "/ui/latency", "/"]:
        r = page.goto(f"{URL}{path}")
        html = page.content()
        check(r.status == 200 and page.locator("input[name=token]").count() == 1,
              f"{path} without a session: the sign-in form (status {r.status})")
        check("prodsecret" not in html and "feature" not in html, f"{path} without a session: no data")
    shot(page, "00-login")
    # A POST without a session changes nothing and shows the form.
    r = page.request.post(f"{URL}/ui/volumes/dev/scratch/destroy", form={"csrf": "x"})
    check("name=\"token\"" in r.text(), "a POST without a session gets the sign-in form")

    # A wrong token does not sign in.
    sign_in(page, "not-a-token")
    check(page.locator("input[name=token]").count() == 1 and "unknown token" in page.content(),
          f"a wrong token is refused ({page.url}: {page.content()[-600:]})")

    # ---- the dev token ------------------------------------------------------
    sign_in(page, DEV)
    check(page.url.endswith("/ui/volumes"), f"sign-in lands on the volumes page ({page.url})")
    check("signed in as" in page.content() and "dev-ui" in page.content(), "the page names the token")
    cookies = [c for c in ctx.cookies() if c["name"] == "populous_session"]
    check(len(cookies) == 1, "one session cookie")
    c = cookies[0]
    check(c["httpOnly"] and c["sameSite"] == "Strict" and c["path"] == "/ui",
          f"the cookie is HttpOnly, SameSite=Strict, Path=/ui ({c})")
    check(DEV not in c["value"] and ADMIN not in c["value"], "the cookie holds no token")

    pages = [
        ("01-dev-pools", "/ui/pools", "dev"),
        ("02-dev-volumes", "/ui/volumes", "dev/feature"),
        ("03-dev-volume-feature", "/ui/volumes/dev/feature", "Lineage"),
        ("04-dev-sources", "/ui/sources", "Sources"),
        ("05-dev-pipelines", "/ui/pipelines", "dev"),
        ("06-dev-latency", "/ui/latency", "Prod latency"),
        ("07-dev-audit", "/ui/audit", "Audit"),
    ]
    for name, path, expect in pages:
        r = page.goto(f"{URL}{path}")
        html = page.content()
        check(r.status == 200 and expect in html, f"dev: {path} renders ({r.status})")
        for p_name in PROD_ONLY:
            check(p_name not in html, f"dev: {path} names nothing of prod")
        no_secrets(html, f"dev: {path}")
        shot(page, name)

    # The lineage graph of the clone shows its origin; prod's step is hidden.
    page.goto(f"{URL}/ui/volumes/dev/feature")
    graph = page.locator("svg.lineage")
    check(graph.count() == 1, "the volume page has a lineage graph")
    labels = graph.locator("g.node text").all_text_contents()
    check("dev/golden@g1" in labels and "dev/feature" in labels, f"dev: the graph shows the origin ({labels})")
    check("(hidden)" in labels, f"dev: prod's step is (hidden) ({labels})")
    check(graph.locator("path.edge").count() >= 2, "the graph has its arrows")

    # Direct requests for prod get no data.
    for path in ["/ui/volumes/prod/prodsecret-db", "/ui/volumes?folder=prod",
                 "/ui/volumes/prod/prodsecret-db/destroy",
                 "/ui/latency?record=populous-prod-2.probe.jsonl"]:
        r = page.goto(f"{URL}{path}")
        html = page.content()
        check(r.status == 404 and "prodsecret" not in html and "Lineage" not in html,
              f"dev: {path} answers 404 without data ({r.status})")
    shot(page, "08-dev-prod-not-found")

    # ---- destroy, behind a confirmation, audited -----------------------------
    page.goto(f"{URL}/ui/volumes/dev/scratch")
    with page.expect_navigation():
        page.click("a.action[href$='/destroy']")
    check("Destroy dev/scratch?" in page.content(), "destroy asks for confirmation")
    shot(page, "09-dev-destroy-confirm")
    page.goto(f"{URL}/ui/volumes")
    check("dev/scratch" in page.content(), "the confirmation page alone destroys nothing")

    # A POST without the CSRF token, with a wrong one, or from another origin is refused.
    page.goto(f"{URL}/ui/volumes/dev/scratch/destroy")
    token = csrf_of(page)
    check(bool(token) and len(token) == 64, "the form carries a CSRF token")
    for form, headers, what in [
        ({}, {}, "no CSRF token"),
        ({"csrf": "0" * 64}, {}, "a wrong CSRF token"),
        ({"csrf": token}, {"Origin": "http://evil.example"}, "another origin"),
    ]:
        r = page.request.post(f"{URL}/ui/volumes/dev/scratch/destroy", form=form, headers=headers)
        check(r.status == 403 and "Refused" in r.text(), f"a POST with {what} is refused ({r.status})")
    page.goto(f"{URL}/ui/volumes")
    check("dev/scratch" in page.content(), "refused POSTs destroyed nothing")

    page.goto(f"{URL}/ui/volumes/dev/scratch/destroy")
    with page.expect_navigation():
        page.click("#confirm")
    check("Destroyed dev/scratch." in page.content(), "the confirmed destroy is done")
    shot(page, "10-dev-destroyed")
    page.goto(f"{URL}/ui/volumes")
    check("dev/scratch" not in page.content(), "dev/scratch is gone from the list")
    page.goto(f"{URL}/ui/audit")
    rows = page.locator("tbody tr").all_text_contents()
    check(any("token:dev-ui" in r and "volume destroy" in r and "dev/scratch" in r for r in rows),
          "the audit page shows the destroy by token:dev-ui")
    check(not any("prodsecret" in r for r in rows), "the dev audit names nothing of prod")
    shot(page, "11-dev-audit-after-destroy")

    # Protect and extend go through their confirmations too.
    page.goto(f"{URL}/ui/volumes/dev/feature/protect")
    with page.expect_navigation():
        page.click("#confirm")
    check("is protected" in page.content(), "protect after confirmation")

    # ---- sign out ------------------------------------------------------------
    page.goto(f"{URL}/ui/volumes")
    with page.expect_navigation():
        page.click("form.logout button")
    check(page.locator("input[name=token]").count() == 1, "signing out shows the sign-in form")
    page.goto(f"{URL}/ui/volumes")
    check(page.locator("input[name=token]").count() == 1 and "dev/feature" not in page.content(),
          "after signing out, no data")
    ctx.close()

    # ---- the admin token ---------------------------------------------------------
    ctx = browser.new_context(viewport={"width": 1300, "height": 900})
    page = ctx.new_page()
    sign_in(page, ADMIN)
    page.goto(f"{URL}/ui/volumes/dev/feature")
    labels = page.locator("svg.lineage g.node text").all_text_contents()
    check("prod/prodsecret-db@nightly" in labels, f"admin: the graph shows prod's origin ({labels})")
    shot(page, "12-admin-volume-feature")
    page.goto(f"{URL}/ui/volumes/prod/prodsecret-db")
    check(page.locator("svg.lineage g.node").count() >= 3, "admin: prod's volume shows its snapshot and clone")
    shot(page, "13-admin-volume-prod")
    r = page.goto(f"{URL}/ui/latency")
    chart = page.locator("svg.chart")
    check(r.status == 200 and chart.count() == 1, "admin: the latency page has a chart")
    check(chart.locator("path.series").count() == 2, "the chart draws p50 and p99")
    d = chart.locator("path.series").first.get_attribute("d") or ""
    check(len(re.findall(r"L", d)) >= 3, f"the p50 line has points ({d[:60]})")
    check(chart.locator("rect.phase").count() >= 2, "the chart shades the phases")
    check("rolling update" in page.content(), "the phase names are shown")
    shot(page, "14-admin-latency")
    for name, path in [("15-admin-pools", "/ui/pools"), ("16-admin-volumes", "/ui/volumes"),
                       ("17-admin-pipelines", "/ui/pipelines"), ("18-admin-audit", "/ui/audit"),
                       ("19-admin-sources", "/ui/sources")]:
        r = page.goto(f"{URL}{path}")
        check(r.status == 200, f"admin: {path} renders")
        no_secrets(page.content(), f"admin: {path}")
        shot(page, name)
    page.goto(f"{URL}/ui/pipelines")
    check("populous-prod-2.probe.jsonl" in page.content(), "admin: the pipeline page links prod's probe record")
    browser.close()

print(f"all {checks} checks passed", flush=True)
