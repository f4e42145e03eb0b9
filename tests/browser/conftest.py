"""The dashboard in a real browser: the operating system's headless Chromium driven by its
matching chromium-driver through Selenium (installed by `make setup-browser` / `.ci/run`; nothing
is downloaded at run time). Every test here starts the local cloud, so every one is ``slow``."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
]


def _binary(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent.name == "browser":
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """A headless Chromium with a fresh profile; its console is read by ``console_errors``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = _binary("chromium", "chromium-browser")
    driver_path = _binary("chromedriver", "chromium-driver")
    if chromium is None or driver_path is None:
        pytest.fail("chromium and chromium-driver are not installed: run `make setup-browser` (apt-get install)")
    profile = tempfile.mkdtemp(prefix="drgero-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator:
    """On a failure, the page's text goes into the report (what the person would have seen)."""
    outcome = yield
    report = outcome.get_result()
    driver = item.funcargs.get("browser") if hasattr(item, "funcargs") else None
    if report.when == "call" and report.failed and driver is not None:
        try:
            text = driver.execute_script("return document.querySelector('main').innerText")
            report.sections.append(("page text at failure", f"{driver.current_url}\n{text[:4000]}"))
        except Exception as exc:  # noqa: BLE001 - a report aid must not hide the real failure
            report.sections.append(("page text at failure", f"unavailable: {exc}"))
