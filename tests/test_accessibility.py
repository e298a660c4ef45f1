"""axe-core, injected through Playwright into the public page and every console page, light and dark,
finds no serious or critical WCAG violation (issue 12).

axe-core comes from npm: scripts/test installs it into .venv/node and names it in $AXE_CORE_JS.
"""

import os
from pathlib import Path

import pytest
from browser_helpers import browser_fixture, config_file_fixture, server_fixture, sign_in_to_console  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser

AXE_CORE_JS = Path(os.environ.get("AXE_CORE_JS", Path(__file__).resolve().parent.parent
                                  / ".venv/node/node_modules/axe-core/axe.min.js"))
BLOCKING = ("serious", "critical")

RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                      nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}));
}"""


def violations(page, url: str) -> list[dict]:
    page.goto(url)
    page.add_script_tag(path=str(AXE_CORE_JS))
    return [v | {"url": url} for v in page.evaluate(RUN_AXE) if v["impact"] in BLOCKING]


@pytest.fixture
def axe() -> Path:
    if not AXE_CORE_JS.is_file():
        pytest.fail(f"{AXE_CORE_JS} not found: run scripts/test, which installs axe-core from npm")
    return AXE_CORE_JS


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_public_and_console_pages_have_no_serious_accessibility_violations(server, browser, axe, scheme) -> None:
    import httpx

    incidents = httpx.get(f"{server}/api/v2/incidents.json").json()["incidents"]
    public = [f"{server}/", f"{server}/?lang=en", f"{server}/incidents/{incidents[0]['id']}",
              f"{server}/incidents/{incidents[0]['id']}?lang=en", f"{server}/no-such-page"]
    context = browser.new_context(color_scheme=scheme)
    page = context.new_page()
    # The check can fail: a page with an unlabelled image and an unnamed button is caught.
    page.set_content("<!doctype html><html lang=en><title>t</title><main><img src=x.png><button></button></main>")
    page.add_script_tag(path=str(AXE_CORE_JS))
    assert {"image-alt", "button-name"} <= {v["id"] for v in page.evaluate(RUN_AXE) if v["impact"] in BLOCKING}

    found = [v for url in public for v in violations(page, url)]
    found += violations(page, f"{server}/console/sign-in")

    sign_in_to_console(page, server)
    console = ["/console", f"/console/incidents/{incidents[0]['id']}", "/console/incidents/new",
               "/console/maintenances/new", "/console/switches", "/console/actions", "/console/probes",
               "/console/connections", "/console/subscribers", "/console/audit", "/console/mirrors",
               "/console/mirrors/jansen-relations-to-visma", "/console/sync", "/console/budgets"]
    # Every page the console's menu leads to is among them: a page added later is checked too, or this fails.
    menu = {link.get_attribute("href") for link in page.locator("nav[aria-label=Console] a[href^='/console']").all()}
    assert menu and menu <= set(console), menu - set(console)
    probes = page.goto(f"{server}/console/probes") and page.locator("a[href^='/console/probes/']").all()
    console += [link.get_attribute("href") for link in probes[:1]]
    found += [v for path in console for v in violations(page, server + path)]
    context.close()
    assert found == []
