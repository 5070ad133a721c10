"""What every page must pass: axe-core (no serious or critical problem) and layout checks, at
tablet landscape, tablet portrait and phone size, with a screenshot of each for people to look at.
"""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import VIEWPORTS, shoot

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
BLOCKING_IMPACTS = {"serious", "critical"}


def axe_violations(page: Any) -> list[dict[str, Any]]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": AXE_TAGS}, "resultTypes": ["violations"]})
    violations: list[dict[str, Any]] = results.response["violations"]
    return violations


def format_violations(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"[{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"][:5]:
            lines.append(f"    {', '.join(map(str, node['target']))}: {node.get('failureSummary', '').strip()}")
    return "\n".join(lines)


def assert_accessible(page: Any, name: str) -> None:
    """No serious or critical axe violations; everything found is printed (see `pytest -s`)."""
    violations = axe_violations(page)
    if violations:
        print(f"\naxe on {name} ({page.url}):\n{format_violations(violations)}")  # noqa: T201
    blocking = [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
    assert not blocking, f"axe found serious/critical problems on {name}:\n{format_violations(blocking)}"


# Small touch targets allowed: links inside running text (WCAG 2.5.8 exempts inline targets).
TOUCH_TARGETS = "main .btn, main .form-control, main .form-select, main .page-link, main [role=tab], nav .nav-link"


def layout_problems(page: Any) -> list[str]:
    """Horizontal overflow of the page, and controls under 44 px tall, at the current size."""
    return page.evaluate(
        """(selector) => {
        const problems = [];
        const doc = document.documentElement;
        if (doc.scrollWidth > doc.clientWidth + 1) {
            problems.push(`page is ${doc.scrollWidth}px wide in a ${doc.clientWidth}px viewport`);
        }
        for (const wrap of document.querySelectorAll('.kc-table-wrap')) {
            if (wrap.scrollWidth > wrap.clientWidth + 1) {
                problems.push(`a table needs ${wrap.scrollWidth}px in a ${wrap.clientWidth}px box`);
            }
        }
        for (const el of document.querySelectorAll(selector)) {
            const box = el.getBoundingClientRect();
            if (box.width === 0 && box.height === 0) continue;  // hidden (collapsed menu, etc.)
            if (el.type === 'hidden') continue;
            if (box.height < 43.5) {
                const label = (el.innerText || el.getAttribute('aria-label') || el.name || el.id || '').trim();
                const what = `${el.tagName.toLowerCase()}.${el.className} "${label.slice(0, 30)}"`;
                problems.push(`${what} is ${box.height}px tall`);
            }
        }
        return problems;
    }""",
        TOUCH_TARGETS,
    )


def check_page(page: Any, name: str) -> None:
    """At each size: a screenshot, axe (no serious or critical problem), and the layout checks."""
    page.wait_for_load_state("load")
    problems: dict[str, list[str]] = {}
    original = page.viewport_size
    for size in VIEWPORTS:
        shoot(page, name, sizes=(size,), restore=False)
        assert_accessible(page, f"{name} at {size} size")
        found = layout_problems(page)
        if found:
            problems[size] = found
    page.set_viewport_size(original)
    assert not problems, f"layout problems on {name}: {problems}"
