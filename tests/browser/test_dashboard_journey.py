"""A person's whole journey through the dashboard on the local cloud, in headless Chromium:
sign in, create a PUSH leaderboard with the wizard, create a dataset token and push rows with
the curl the page shows, add models by auto-select and by hand, run, watch the progress, read
the winner by name on Ranking, pin another model, open the run from Run Logs and filter its
failures. No console error on the way. Screenshots when DRGERO_SCREENSHOTS names a folder."""

from __future__ import annotations

import json
import shlex
import subprocess

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from tests.support.browser import (
    click_text,
    clickable,
    console_errors,
    css,
    field,
    fill,
    go,
    ready,
    shot,
    sign_in_local,
    text_appears,
    wait,
)

# Candidates attached from OpenRouter are named by their model id.
WINNER = "sandbox/arithmetic-exact"
PINNED = "sandbox/off-by-one"


def no_console_errors(driver, where: str) -> None:
    errors = console_errors(driver)
    assert not errors, f"console errors on {where}: {errors}"


def run_curl(command: str, body: object | None = None) -> dict:
    """Runs the page's curl example (its URL and token), optionally with another JSON body."""
    args = shlex.split(command.replace("\\\n", " "))
    if body is not None:
        args[args.index("-d") + 1] = json.dumps(body)
    done = subprocess.run(args, capture_output=True, text=True, timeout=30, check=True)  # noqa: S603 - the page's own example
    return json.loads(done.stdout)


def test_a_person_creates_pushes_adds_models_runs_and_pins(local_cloud, browser):
    base = local_cloud.api_url
    sign_in_local(browser, base)
    text_appears(browser, "Leaderboards")
    shot(browser, "01-leaderboards-empty")
    no_console_errors(browser, "sign-in")

    # --- Create Leaderboard wizard: Name, System prompt (live preview), Push dataset, Exact.
    click_text(browser, "a", "Create Leaderboard")
    fill(browser, "Leaderboard name", "Arithmetic helper")
    shot(browser, "02-wizard-name")
    click_text(browser, "button", "Continue")
    fill(browser, "System prompt", "Compute and answer with the number only: {input}")
    fill(browser, "Sample input for the preview", "2 + 3")
    wait(browser).until(lambda d: "number only: 2 + 3" in d.find_element(By.CSS_SELECTOR, "pre.preview").text)
    shot(browser, "03-wizard-prompt-preview")
    click_text(browser, "button", "Continue")
    clickable(browser, "#dataset-mode-push").click()
    fill(browser, "Maximum samples to keep", "1000")
    shot(browser, "04-wizard-push-dataset")
    click_text(browser, "button", "Continue")
    Select(field(browser, "Matching mode")).select_by_value("number")
    shot(browser, "05-wizard-evaluation")
    click_text(browser, "button", "Create leaderboard")
    text_appears(browser, "Push dataset")
    no_console_errors(browser, "the wizard")

    # --- Detail: a dataset token (secret once), then the shown curl pushes rows.
    click_text(browser, "button", "Create dataset token")
    secret = css(browser, ".secret-once pre").text
    assert secret.startswith("hpd_")
    command = browser.find_element(By.CSS_SELECTOR, "#dataset-token-area > .copy-block pre").text
    assert secret in command and "/dataset/push" in command
    # The picture keeps no secret, even of a throwaway local cloud.
    browser.execute_script(
        "for (const el of document.querySelectorAll('#dataset-token-area pre'))"
        " el.textContent = el.textContent.split(arguments[0]).join('hpd_…(shown once)')",
        secret,
    )
    shot(browser, "06-detail-dataset-token")
    assert run_curl(command)["accepted"] == 1
    rows = [{"id": f"q{i}", "input": f"{i} + {i * 2}", "output": str(i * 3)} for i in range(120)]
    assert run_curl(command, {"rows": rows})["accepted"] == 120
    click_text(browser, "button", "Consolidate now")
    ready(browser)
    wait(browser).until(lambda d: d.find_element(By.ID, "ds-consolidated").text == "121")
    assert secret not in browser.find_element(By.TAG_NAME, "main").text  # shown once, gone on reload
    css(browser, "#rows-title")
    wait(browser).until(lambda d: "q0" in d.find_element(By.CSS_SELECTOR, "section[aria-labelledby=rows-title]").text)
    shot(browser, "07-detail-push-status")
    no_console_errors(browser, "the Detail tab")

    # --- Add Model (enabled from 100 consolidated rows): auto-select preview, then attach; then one by hand.
    wait(browser).until(lambda d: d.find_element(By.XPATH, "//a[normalize-space(.)='Add Model']").get_attribute("href"))
    click_text(browser, "a", "Add Model")
    fill(browser, "Number of models", "2")
    click_text(browser, "button", "Preview picks")
    text_appears(browser, "sandbox/arithmetic-exact")
    shot(browser, "08-add-model-auto-select-preview")
    clickable(browser, "#auto-attach").click()
    wait(browser).until(lambda d: "Candidate models" in d.find_element(By.TAG_NAME, "main").text)
    text_appears(browser, WINNER)
    click_text(browser, "a", "Add Model")
    fill(browser, "OpenRouter model id", "sandbox/off-by-one")
    click_text(browser, "button", "Attach model")
    text_appears(browser, PINNED)
    no_console_errors(browser, "Add Model")

    # --- Run: progress while it runs, then the winner by name on Ranking.
    click_text(browser, "a", "Ranking")
    ready(browser)
    ranking_path = browser.current_url.split("#", 1)[1]
    clickable(browser, "#run-button").click()
    wait(browser).until(lambda d: "shards done" in d.find_element(By.CSS_SELECTOR, ".run-status").text)
    shot(browser, "09-run-progress")
    wait(browser, 120).until(lambda d: d.find_elements(By.ID, "winner"))
    assert WINNER in browser.find_element(By.ID, "winner").text
    assert WINNER in browser.find_element(By.ID, "production-model").text
    shot(browser, "10-ranking")
    no_console_errors(browser, "Ranking")

    # --- Pin another model.
    Select(field(browser, "Strategy")).select_by_value("manual")
    Select(field(browser, "Pinned model")).select_by_visible_text(PINNED)
    click_text(browser, "button", "Save selection")
    wait(browser).until(lambda d: PINNED in d.find_element(By.ID, "production-model").text)
    assert "pinned by hand" in browser.find_element(By.ID, "production-model").text

    # --- Run Logs: open the run, filter its failures.
    click_text(browser, "a", "Run Logs")
    text_appears(browser, "manual")
    shot(browser, "11-run-logs")
    browser.find_element(By.CSS_SELECTOR, "main table a[href^='#/runs/']").click()
    ready(browser)
    text_appears(browser, "Per-row results")
    Select(field(browser, "Show")).select_by_visible_text("Failures")
    wait(browser).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#results .result-row, #results-unavailable, #results .empty")
    )
    cards = browser.find_elements(By.CSS_SELECTOR, "#results .result-row")
    if not browser.find_elements(By.ID, "results-unavailable"):
        # Off by one never passes: every failure row shows at least one failed output.
        assert cards and all(c.find_elements(By.CSS_SELECTOR, ".result.fail, .result.error") for c in cards)
    shot(browser, "12-run-results")
    no_console_errors(browser, "the run page")

    # --- Every other page renders with no console error (and a heading).
    for path, heading in [
        ("/models", "Models"),
        ("/traces", "Traces"),
        ("/settings", "Settings"),
        ("/tokens", "Tokens"),
        ("/integrations", "Integrations"),
        ("/billing", "Billing"),
        ("/leaderboards", "Leaderboards"),
    ]:
        go(browser, base, path)
        assert browser.find_element(By.CSS_SELECTOR, "main h1").text == heading
        shot(browser, f"20-{heading.lower()}")
        no_console_errors(browser, path)

    # --- Phone width: nothing wider than the screen (tables stack into cards).
    browser.set_window_size(390, 844)
    try:
        for path, name in [("/leaderboards", "30-phone-leaderboards"), (ranking_path, "31-phone-ranking")]:
            go(browser, base, path)
            overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"{path} is {overflow}px wider than a phone screen"
            shot(browser, name)
    finally:
        browser.set_window_size(1280, 900)
