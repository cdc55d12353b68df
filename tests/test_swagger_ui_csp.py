"""Swagger UI works in a real browser under the page's Content-Security-Policy.

Debian's Chromium, driven headless by Playwright; nothing downloads a browser.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
SPEC = Path(__file__).parent.parent / "openapi" / "api.yaml"

# records every policy violation, from before the page's own scripts run
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__violations.push(e.violatedDirective + " " + e.blockedURI);
});
"""


def _operations() -> int:
    spec: dict[str, Any] = yaml.safe_load(SPEC.read_text())
    return sum(1 for item in spec["paths"].values() for op in item.values() if "operationId" in op)


def test_swagger_ui_renders_every_operation_with_no_policy_violation(
    server: str, tmp_path: Path
) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.add_init_script(RECORD_VIOLATIONS)
            response = page.goto(f"{server}/api/ui/")
            assert response is not None
            policy = response.headers["content-security-policy"]
            assert "'unsafe-inline'" not in policy
            assert "'unsafe-eval'" not in policy
            page.wait_for_selector(".opblock", timeout=20_000)
            assert page.locator(".opblock").count() == _operations()
            page.screenshot(path=str(tmp_path / "swagger-ui.png"), full_page=False)
            assert page.evaluate("window.__violations") == []
            assert not [e for e in errors if "Content Security Policy" in e], errors
        finally:
            browser.close()
