"""Helpers for the dashboard's browser tests (tests/browser): waiting for what a person would
wait for, reading the console, signing in, the checks every page passes (named, reachable
controls; phone width) and the screenshots of docs/dashboard.md (``shot``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

TIMEOUT = 30.0


def wait(driver: Any, timeout: float = TIMEOUT) -> WebDriverWait:
    return WebDriverWait(driver, timeout, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,))


def css(driver: Any, selector: str, timeout: float = TIMEOUT) -> Any:
    return wait(driver, timeout).until(ec.visibility_of_element_located((By.CSS_SELECTOR, selector)))


def clickable(driver: Any, selector: str, timeout: float = TIMEOUT) -> Any:
    return wait(driver, timeout).until(ec.element_to_be_clickable((By.CSS_SELECTOR, selector)))


def by_text(driver: Any, tag: str, text: str, timeout: float = TIMEOUT) -> Any:
    """The first visible ``tag`` whose text is ``text`` (buttons, links, labels)."""
    xpath = f"//{tag}[normalize-space(.)={_literal(text)}]"
    return wait(driver, timeout).until(ec.element_to_be_clickable((By.XPATH, xpath)))


def click_text(driver: Any, tag: str, text: str, timeout: float = TIMEOUT) -> None:
    element = by_text(driver, tag, text, timeout)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def field(driver: Any, label: str, timeout: float = TIMEOUT) -> Any:
    """The control a ``<label>`` with exactly this text names."""
    lab = wait(driver, timeout).until(
        ec.presence_of_element_located((By.XPATH, f"//label[normalize-space(.)={_literal(label)}]"))
    )
    return driver.find_element(By.ID, lab.get_attribute("for"))


def fill(driver: Any, label: str, value: str) -> None:
    control = field(driver, label)
    control.clear()
    control.send_keys(value)


def text_appears(driver: Any, text: str, timeout: float = TIMEOUT) -> None:
    wait(driver, timeout).until(lambda d: text in d.find_element(By.TAG_NAME, "main").text)


def ready(driver: Any) -> None:
    """The app has rendered its first page (body[data-ready]) and nothing is loading."""
    wait(driver).until(lambda d: d.execute_script("return document.body.dataset.ready === 'true'"))
    wait(driver).until(lambda d: not d.find_elements(By.CSS_SELECTOR, "main .loading"))


def go(driver: Any, base_url: str, hash_path: str) -> None:
    driver.get(f"{base_url}/#{hash_path}")
    ready(driver)


def console_errors(driver: Any) -> list[str]:
    """Console errors since the last call (the log is drained on read): script errors, CSP
    violations, failed imports. Not the network lines Chromium logs for an API answer of 4xx:
    the pages show those in words (a 409 for too few rows, a route another release adds)."""
    try:
        entries = driver.get_log("browser")
    except WebDriverException:
        return []
    return [e["message"] for e in entries if e.get("level") == "SEVERE" and e.get("source") != "network"]


def fresh(driver: Any, base_url: str) -> None:
    """A new page load with no session (tests share one browser per module)."""
    driver.get(f"{base_url}/")
    driver.execute_script("sessionStorage.clear()")
    driver.refresh()
    ready(driver)


def sign_in_local(driver: Any, base_url: str) -> None:
    fresh(driver, base_url)
    clickable(driver, "#local-signin").click()
    wait(driver).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#nav a"))
    ready(driver)


def sign_in_token(driver: Any, base_url: str, token: str) -> None:
    fresh(driver, base_url)
    fill(driver, "API token", token)
    click_text(driver, "button", "Sign in with token")
    wait(driver).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#nav a"))
    ready(driver)


def sign_out(driver: Any) -> None:
    click_text(driver, "button", "Sign out")
    css(driver, "form.card")


def until(driver: Any, predicate: Any, timeout: float = TIMEOUT) -> Any:
    """Waits (as WebDriverWait does) until ``predicate()`` is truthy, for state outside the page."""
    return wait(driver, timeout).until(lambda _d: predicate())


def _literal(text: str) -> str:
    if "'" not in text:
        return f"'{text}'"
    if '"' not in text:
        return f'"{text}"'
    return "concat(" + ', "\'", '.join(f"'{part}'" for part in text.split("'")) + ")"


# Every visible form control of the page, the name a screen reader would read for it, and
# whether Tab reaches it (tabIndex >= 0):
# a <label for>, a wrapping <label>, aria-label or aria-labelledby; a button's own text.
_UNNAMED_CONTROLS = """
const named = (el) => {
  if (el.getAttribute('aria-label')?.trim()) return true;
  const by = el.getAttribute('aria-labelledby');
  if (by && by.split(/\\s+/).some((id) => document.getElementById(id)?.textContent.trim())) return true;
  if (el.labels && [...el.labels].some((l) => l.textContent.trim())) return true;
  return el.tagName === 'BUTTON' && el.textContent.trim() !== '';
};
return [...document.querySelectorAll('main input, main select, main textarea, main button')]
  .filter((el) => el.offsetParent !== null && el.type !== 'hidden' && (!named(el) || el.tabIndex < 0))
  .map((el) => el.outerHTML.slice(0, 120));
"""


def unlabelled_controls(driver: Any) -> list[str]:
    """The visible controls in ``main`` a screen reader could not name or the Tab key could not
    reach (empty when every one is named and reachable)."""
    return driver.execute_script(_UNNAMED_CONTROLS)


def phone_overflow(driver: Any) -> int:
    """How many CSS pixels the page is wider than the window (0 or 1 when it fits)."""
    return driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")


def shot(driver: Any, name: str) -> None:
    """The whole page (up to 2400 px tall) into $DRGERO_SCREENSHOTS/{name}.png, when set."""
    folder = os.environ.get("DRGERO_SCREENSHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    size = driver.get_window_size()
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(size["width"], min(max(height + 120, size["height"]), 2400))
    try:
        driver.save_screenshot(str(Path(folder) / f"{name}.png"))
    finally:
        driver.set_window_size(size["width"], size["height"])
