"""The dashboard's other pages driven step by step in headless Chromium on the local cloud, as a
person would: Human review (grade, watch the remaining count drop, read the ranking), Models
(versions, a fine-tune with progress, cost and cancel, a schedule created and removed), Traces
(filtered by leaderboard, kind and time; one trace's JSON as text), Integrations (set, masked,
validate, remove; OpenRouter and Hugging Face), Billing (plan, limits, usage; why a free plan
cannot delete) and a ranking whose cost is unknown. On each page: errors in words next to what
caused them, no console error, labelled controls, nothing wider than a 390 px phone."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from localcloud.hub.samples import SAMPLE_TOKEN
from localcloud.seed import SANDBOX_OPENROUTER_KEY
from tests.support.browser import (
    click_text,
    console_errors,
    css,
    field,
    fill,
    go,
    phone_overflow,
    shot,
    sign_in_local,
    text_appears,
    unlabelled_controls,
    until,
    wait,
)

ROWS = 4  # limits.min_rows_before_models is lowered to this for the module's cloud
EXACT = "sandbox/arithmetic-exact"
OFF_BY_ONE = "sandbox/off-by-one"
HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def local_cloud() -> Iterator[Any]:
    """The local cloud of this module: a few rows are enough to attach models (so a human
    review has a handful of items); the workspace is on the free plan (Billing says why it
    cannot delete), with room for this module's leaderboards."""
    from localcloud.clock import ManualClock
    from localcloud.cloud import LocalCloud

    env = {"DRGERO_LIMITS__MIN_ROWS_BEFORE_MODELS": str(ROWS), "DRGERO_PLANS__FREE_MAX_LEADERBOARDS": "20"}
    with LocalCloud(
        api_port=0,
        aws_port=0,
        sandbox_port=0,
        clock=ManualClock(),
        redelivery_delay_seconds=0,
        env_overrides=env,
        seed_plan="free",
    ) as cloud:
        yield cloud


@pytest.fixture(scope="module")
def api(local_cloud) -> Iterator[httpx.Client]:
    """The seeded owner's API token, for arranging what the pages then show."""
    info = local_cloud.info()
    headers = {"Authorization": f"Bearer {info['token']}"}
    with httpx.Client(base_url=local_cloud.api_url, headers=headers, trust_env=False, timeout=30) as client:
        yield client


def ok(response: httpx.Response, *statuses: int) -> Any:
    assert response.status_code in statuses, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json() if response.content else None


def board(browser, api: httpx.Client, name: str, evaluation: dict, models: list[dict], count: int = ROWS) -> str:
    """A PUSH leaderboard with ``count`` consolidated arithmetic rows and these candidates."""
    body = {"name": name, "prompt": "Answer with the number only: {input}", "dataset": {"mode": "PUSH"}}
    lb = ok(api.post("/api/leaderboards", json={**body, "evaluation": evaluation}), 201)["id"]
    rows = [{"id": f"q{i}", "input": f"{i} + {i + 2}", "output": str(2 * i + 2)} for i in range(count)]
    ok(api.post(f"/v1/leaderboard/{lb}/dataset/push", json={"rows": rows}), 202)
    ok(api.post(f"/v1/leaderboard/{lb}/dataset/consolidate"), 200, 202)
    until(
        browser,
        lambda: (ok(api.get(f"/v1/leaderboard/{lb}/dataset/status"), 200).get("dataset") or {}).get("rows") == count,
    )
    for model in models:
        ok(api.post(f"/api/leaderboards/{lb}/models", json=model), 201)
    return lb


def run_until(browser, api: httpx.Client, lb: str, *statuses: str) -> str:
    run_id = ok(api.post(f"/api/leaderboards/{lb}/runs"), 202)["run_id"]
    until(browser, lambda: ok(api.get(f"/api/runs/{run_id}"), 200)["status"] in statuses, timeout=120)
    return run_id


def page_is_sound(browser, where: str) -> None:
    """No console error, every control named, nothing wider than a phone (then back to 1280)."""
    errors = console_errors(browser)
    assert not errors, f"console errors on {where}: {errors}"
    unnamed = unlabelled_controls(browser)
    assert not unnamed, f"controls without a label on {where}: {unnamed}"
    browser.set_window_size(390, 844)
    try:
        overflow = phone_overflow(browser)
        assert overflow <= 1, f"{where} is {overflow}px wider than a phone screen"
    finally:
        browser.set_window_size(1280, 900)


def status_text(browser, selector: str) -> str:
    return browser.find_element(By.CSS_SELECTOR, selector).text


# ------------------------------------------------------------------ Human review
def test_a_reviewer_grades_a_human_run_and_sees_its_ranking(local_cloud, browser, api):
    openrouter = [{"platform": "openrouter", "model": EXACT}, {"platform": "openrouter", "model": OFF_BY_ONE}]
    lb = board(browser, api, "Graded by people", {"type": "human", "scale": "pass_fail"}, openrouter)
    run_id = run_until(browser, api, lb, "awaiting_review")
    items = ROWS * 2
    sign_in_local(browser, local_cloud.api_url)

    # The run says it waits for people; its link opens Human review.
    go(browser, local_cloud.api_url, f"/runs/{run_id}")
    click_text(browser, "a", "Grade the outputs (Human review)")
    wait(browser).until(lambda d: d.find_elements(By.ID, "review-remaining"))
    assert status_text(browser, "#review-remaining") == f"{items} of {items} items left to grade."
    assert "model names hidden" in status_text(browser, "main")
    page_is_sound(browser, "Human review")

    shot(browser, "40-human-review")

    # Grade the first row from the keyboard (pass for A, fail for B): the count drops.
    field(browser, "Row q0, output A").send_keys("Pass")
    browser.switch_to.active_element.send_keys(Keys.TAB)  # on to the next control...
    while browser.switch_to.active_element.get_attribute("id") != field(browser, "Row q0, output B").get_attribute(
        "id"
    ):
        browser.switch_to.active_element.send_keys(Keys.TAB)  # ...past the row link, to B's grade
    browser.switch_to.active_element.send_keys("Fail")
    save = browser.find_element(By.XPATH, "//button[normalize-space(.)='Save grades']")
    save.send_keys(Keys.ENTER)
    wait(browser).until(
        lambda d: d.find_element(By.ID, "review-remaining").text == f"{items - 2} of {items} items left to grade."
    )

    # The row links to the same row of the run's per-row results.
    click_text(browser, "a", "Row q0 in the run's results")
    wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#results .result-row.highlight"))
    highlighted = browser.find_element(By.CSS_SELECTOR, "#results .result-row.highlight")
    assert highlighted.find_element(By.TAG_NAME, "h3").text == "Row q0"
    assert "0 + 2" in highlighted.text
    assert browser.switch_to.active_element == highlighted
    browser.back()
    wait(browser).until(lambda d: d.find_elements(By.ID, "review-remaining"))

    # Grade every other item: the review closes and the run's ranking appears, with names.
    for row in range(1, ROWS):
        for label in "AB":
            Select(field(browser, f"Row q{row}, output {label}")).select_by_visible_text(
                "Pass" if label == "A" else "Fail"
            )
    click_text(browser, "button", "Save grades")
    wait(browser, 60).until(lambda d: d.find_elements(By.ID, "review-ranking"))
    ranking = status_text(browser, "#review-ranking")
    assert EXACT in ranking and OFF_BY_ONE in ranking
    assert "Review complete" in status_text(browser, "main")
    assert not browser.find_elements(By.XPATH, "//button[normalize-space(.)='Save grades']")
    shot(browser, "41-human-review-ranked")
    page_is_sound(browser, "Human review, done")


def test_a_score_review_says_which_grade_is_off_the_scale(local_cloud, browser, api):
    models = [{"platform": "openrouter", "model": EXACT}, {"platform": "openrouter", "model": OFF_BY_ONE}]
    lb = board(browser, api, "Scored by people", {"type": "human", "scale": "1-5", "blind": False}, models)
    run_id = run_until(browser, api, lb, "awaiting_review")
    sign_in_local(browser, local_cloud.api_url)
    go(browser, local_cloud.api_url, f"/runs/{run_id}/review")
    # Not blind: the model names are shown; the scale is said next to each control.
    grade = field(browser, f"Row q0, {EXACT}")
    assert grade.get_attribute("min") == "1" and grade.get_attribute("max") == "5"
    grade.send_keys("9")
    click_text(browser, "button", "Save grades")
    error = browser.find_element(By.ID, f"{grade.get_attribute('id')}-error")
    wait(browser).until(lambda d: error.text == "Enter a number from 1 to 5.")
    assert grade.get_attribute("aria-invalid") == "true"
    assert status_text(browser, "#review-remaining") == f"{ROWS * 2} of {ROWS * 2} items left to grade."
    grade.clear()
    grade.send_keys("4")
    click_text(browser, "button", "Save grades")
    wait(browser).until(
        lambda d: d.find_element(By.ID, "review-remaining").text == f"{ROWS * 2 - 1} of {ROWS * 2} items left to grade."
    )
    assert field(browser, f"Row q0, {EXACT}").get_attribute("value") == "4"
    page_is_sound(browser, "Human review (scores)")


# ------------------------------------------------------------------ Models
def test_models_versions_a_fine_tune_with_progress_cost_and_cancel_and_a_schedule(local_cloud, browser, api):
    lb = board(browser, api, "Fine-tune source", {"type": "exact"}, [], count=12)  # fine-tuning needs 10
    sign_in_local(browser, local_cloud.api_url)
    go(browser, local_cloud.api_url, "/models")
    # A Dr.Gero model created on the page: a bad URL is said next to its field first.
    fill(browser, "Name", "arith-bot (toy)")
    fill(browser, "Base model (optional)", OFF_BY_ONE)
    fill(browser, "Endpoint URL (OpenAI chat-completions)", "ftp://nowhere")
    css(browser, "#probe").click()  # no test request: the toy endpoint is not what is tested here
    click_text(browser, "button", "Create model")
    url_error = wait(browser).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "[data-field='endpoint.url'] .field-error").text
    )
    assert "http" in url_error
    fill(browser, "Endpoint URL (OpenAI chat-completions)", f"{local_cloud.info()['sandbox_url']}/v1/chat/completions")
    click_text(browser, "button", "Create model")
    wait(browser).until(lambda d: d.find_element(By.CSS_SELECTOR, "main h1").text == "arith-bot (toy)")
    model_path = browser.current_url.split("#", 1)[1]
    versions = css(browser, "#versions").text
    assert "1" in versions
    page_is_sound(browser, "a Dr.Gero model")

    # Fine-tune from the leaderboard: progress (the backend's state) and its cost.
    Select(field(browser, "Leaderboard (its current dataset version)")).select_by_visible_text("Fine-tune source")
    click_text(browser, "button", "Start fine-tune")
    wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#fine-tunes tbody tr"))
    job_row = "#fine-tunes tbody tr:first-child"
    assert "cost not known yet" in status_text(browser, job_row)
    model_id = model_path.rsplit("/", 1)[1]

    def job_status() -> str:
        return ok(api.get(f"/api/models/{model_id}/fine-tunes"), 200)["fine_tunes"][0]["status"]

    until(browser, lambda: job_status() != "starting")
    seen = []
    for _ in range(8):  # the sweeper's poll moves the sandbox job one state on each time
        now = job_status()
        wait(browser).until(lambda d, now=now: d.find_element(By.CSS_SELECTOR, f"{job_row} .status").text == now)
        seen.append(now)
        if now == "succeeded":
            break
        local_cloud.invoke("SweeperFunction", {"job": "fine_tune_poll"})
    assert "succeeded" in seen and len(seen) >= 2, seen  # progress was shown on the way
    done = status_text(browser, job_row)
    assert "$" in done and "sandbox/ft-" in done and "Fine-tune source" in done  # cost, model, leaderboard by name
    # The tuned model is a new version of the Dr.Gero model.
    wait(browser).until(lambda d: "fine_tune" in d.find_element(By.ID, "versions").text)

    shot(browser, "42-model-fine-tune")

    # A second fine-tune is cancelled from its row.
    click_text(browser, "button", "Start fine-tune")
    wait(browser).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#fine-tunes tbody tr")) == 2)
    cancel = wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, f"{job_row} button.danger"))[0]
    assert cancel.get_attribute("aria-label").startswith("Cancel fine-tune ")
    cancel.click()
    wait(browser).until(
        lambda d: d.find_element(By.CSS_SELECTOR, f"{job_row} .status").text in ("cancelled", "cancelling")
    )
    page_is_sound(browser, "fine-tunes")

    # A schedule: bad JSON is said next to it; then created, shown, removed.
    fill(browser, "Schedule JSON", "{not json")
    click_text(browser, "button", "Save schedule")
    wait(browser).until(
        lambda d: "not valid JSON" in d.find_element(By.CSS_SELECTOR, "[data-field='schedule'] .field-error").text
    )
    Select(field(browser, "Leaderboard")).select_by_visible_text("Fine-tune source")
    fill(browser, "Schedule JSON", '{"rate": "7 days"}')
    click_text(browser, "button", "Save schedule")
    wait(browser).until(lambda d: "7 days" in d.find_element(By.ID, "schedule-now").text)
    assert (
        lb in browser.find_element(By.ID, "schedule-now").text
        or "Fine-tune source" in browser.find_element(By.ID, "schedule-now").text
    )
    click_text(browser, "button", "Remove schedule")
    wait(browser).until(lambda d: d.find_element(By.ID, "schedule-now").text == "No schedule.")
    assert api.get(f"/api/models/{model_path.rsplit('/', 1)[1]}/fine-tune-schedule").status_code == 404

    # The list shows the model with its current version.
    go(browser, local_cloud.api_url, "/models")
    listing = css(browser, "main table").text
    assert "arith-bot (toy)" in listing and OFF_BY_ONE in listing
    page_is_sound(browser, "Models")


# ------------------------------------------------------------------ Traces
def browser_local(browser, iso: str, minutes: int = 0) -> str:
    """The datetime-local value (the browser's own time zone) of ``iso`` plus ``minutes``."""
    return browser.execute_script(
        "const d = new Date(new Date(arguments[0]).getTime() + arguments[1] * 60000);"
        "const p = (n) => String(n).padStart(2, '0');"
        "return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;",
        iso,
        minutes,
    )


def set_time(browser, label: str, value: str) -> None:
    control = field(browser, label)
    browser.execute_script(
        "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input', {bubbles: true}))",
        control,
        value,
    )


def trace_ids(browser) -> list[str]:
    return [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#trace-list tbody a")]


def test_traces_filtered_by_leaderboard_kind_and_time_and_one_read_as_text(local_cloud, browser, api):
    body = {"name": "x", "prompt": "{input}", "dataset": {"mode": "PUSH"}}
    first = ok(api.post("/api/leaderboards", json={**body, "name": "Traced one"}), 201)["id"]
    second = ok(api.post("/api/leaderboards", json={**body, "name": "Traced two"}), 201)["id"]
    mine = ok(api.post("/api/traces", json={"name": "prompt v2", "leaderboard_id": first, "input": HOSTILE}), 201)
    other = ok(api.post("/api/traces", json={"name": "other", "leaderboard_id": second, "output": "x"}), 201)
    sign_in_local(browser, local_cloud.api_url)
    go(browser, local_cloud.api_url, "/traces")
    wait(browser).until(lambda d: mine["id"] in trace_ids(d) and other["id"] in trace_ids(d))
    page_is_sound(browser, "Traces")

    Select(field(browser, "Leaderboard")).select_by_visible_text("Traced one")
    Select(field(browser, "Kind")).select_by_visible_text("manual")
    click_text(browser, "button", "Show traces")
    wait(browser).until(lambda d: trace_ids(d) == [mine["id"]])
    assert "Traced one" in css(browser, "#trace-list table").text  # the leaderboard by name
    shot(browser, "43-traces-filtered")
    Select(field(browser, "Kind")).select_by_visible_text("run")
    click_text(browser, "button", "Show traces")
    wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#trace-list .empty"))
    assert status_text(browser, "#trace-list .empty") == "No traces match these filters."

    # By time: a window before the trace holds nothing, one around it holds it.
    Select(field(browser, "Kind")).select_by_visible_text("All kinds")
    set_time(browser, "Since", browser_local(browser, mine["created_at"], -120))
    set_time(browser, "Until", browser_local(browser, mine["created_at"], -60))
    click_text(browser, "button", "Show traces")
    wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#trace-list .empty"))
    set_time(browser, "Until", browser_local(browser, mine["created_at"], 2))
    click_text(browser, "button", "Show traces")
    wait(browser).until(lambda d: trace_ids(d) == [mine["id"]])
    # A window that ends before it starts is said next to Until, and nothing is asked.
    set_time(browser, "Until", browser_local(browser, mine["created_at"], -180))
    click_text(browser, "button", "Show traces")
    wait(browser).until(
        lambda d: (
            d.find_element(By.CSS_SELECTOR, "[data-field='until'] .field-error").text == "Until must be after Since."
        )
    )
    assert field(browser, "Until").get_attribute("aria-invalid") == "true"

    # One trace: its JSON, as text (the hostile input is shown, never run).
    go(browser, local_cloud.api_url, f"/traces/{mine['id']}")
    shown = css(browser, "pre.json").text
    assert HOSTILE in shown and f'"id": "{mine["id"]}"' in shown
    assert not browser.find_elements(By.CSS_SELECTOR, "main img")
    shot(browser, "44-trace-json")
    page_is_sound(browser, "one trace")
    # An unknown trace says so in words.
    go(browser, local_cloud.api_url, "/traces/tr_nope")
    assert css(browser, "main h1").text == "Something went wrong"


# ------------------------------------------------------------------ Integrations
def remove_key(browser, label: str) -> None:
    click_text(browser, "button", f"Remove the {label} key")
    confirm = wait(browser).until(lambda d: d.switch_to.alert)
    assert confirm.text.startswith(f"Remove the {label} key?")
    confirm.accept()


def integration_state(browser, provider: str) -> str:
    return browser.find_element(By.ID, f"int-{provider}-state").text


def test_integrations_set_masked_validated_and_removed(local_cloud, browser, api):
    openrouter_key = "sk-or-browser-" + "k3y-0123456789abcdef"
    try:
        sign_in_local(browser, local_cloud.api_url)
        go(browser, local_cloud.api_url, "/integrations")
        page_is_sound(browser, "Integrations")
        for provider, label, key, bad in [
            ("openrouter", "OpenRouter", openrouter_key, "sk-or-invalid-key-0000"),
            ("huggingface", "Hugging Face", SAMPLE_TOKEN, "hf_not_a_known_token_000"),
        ]:
            card = f"form[aria-labelledby='int-{provider}']"
            # Remove what the local seed configured, if anything: the state says so.
            if "Configured" in integration_state(browser, provider):
                remove_key(browser, label)
                wait(browser).until(lambda d, p=provider: integration_state(d, p) == "Not configured.")
            assert not browser.find_elements(By.XPATH, f"//button[normalize-space(.)='Remove the {label} key']")
            # Saving nothing is said next to the key field.
            click_text(browser, "button", f"Save the {label} key")
            error = browser.find_element(By.CSS_SELECTOR, f"{card} [data-field='api_key'] .field-error")
            wait(browser).until(lambda d, e=error: e.text == "Paste a key first.")
            # Set: masked, never the secret, and the field is emptied.
            fill(browser, f"{label} API key", key)
            click_text(browser, "button", f"Save the {label} key")
            wait(browser).until(lambda d, p=provider: integration_state(d, p).startswith("Configured: "))
            assert key not in browser.find_element(By.TAG_NAME, "body").text
            assert key[-4:] in integration_state(browser, provider)
            assert field(browser, f"{label} API key").get_attribute("value") == ""
            go(browser, local_cloud.api_url, "/integrations")
            assert key not in browser.page_source
            if provider == "openrouter":
                shot(browser, "45-integrations-masked")
            # Validate the stored key (against the local sandbox / hub), then a typed bad one.
            click_text(browser, "button", f"Validate the {label} key")
            wait(browser).until(
                lambda d, p=provider: d.find_element(By.ID, f"int-{p}-check").text.startswith("Valid: ")
            )
            fill(browser, f"{label} API key", bad)
            click_text(browser, "button", f"Validate the {label} key")
            wait(browser).until(
                lambda d, p=provider: d.find_element(By.ID, f"int-{p}-check").text.startswith("Not valid: ")
            )
            assert bad not in browser.find_element(By.TAG_NAME, "body").text
            # Remove.
            remove_key(browser, label)
            wait(browser).until(lambda d, p=provider: integration_state(d, p) == "Not configured.")
        # Validating with nothing stored and nothing typed is said in words.
        field(browser, "OpenRouter API key").clear()
        click_text(browser, "button", "Validate the OpenRouter key")
        box = "form[aria-labelledby='int-openrouter'] .error-box"
        wait(browser).until(lambda d: "No OpenRouter key is stored" in d.find_element(By.CSS_SELECTOR, box).text)
        assert not console_errors(browser)
    finally:
        # The module's other tests run OpenRouter models on the sandbox.
        ok(api.put("/api/integrations/openrouter", json={"api_key": SANDBOX_OPENROUTER_KEY}), 200)


# ------------------------------------------------------------------ Billing and unknown costs
@pytest.fixture(scope="module")
def unknown_cost_run(local_cloud, browser, api) -> tuple[str, str]:
    """A completed run where one candidate (a custom endpoint with no price) has no known
    cost and the other (an OpenRouter toy) has one."""
    custom = {"platform": "custom", "url": f"{local_cloud.info()['sandbox_url']}/custom/openai", "model": "house-model"}
    lb = board(
        browser, api, "Costs partly unknown", {"type": "exact"}, [{"platform": "openrouter", "model": EXACT}, custom]
    )
    return lb, run_until(browser, api, lb, "completed")


def test_billing_shows_plan_limits_usage_and_why_free_cannot_delete(local_cloud, browser, unknown_cost_run):
    _lb, run_id = unknown_cost_run
    sign_in_local(browser, local_cloud.api_url)
    go(browser, local_cloud.api_url, "/billing")
    plan = css(browser, "section[aria-labelledby=plan-title]").text
    assert "Plan: free" in plan
    assert "Leaderboards" in plan and "of 20" in plan  # usage against the limit
    why = css(browser, "#why-no-delete").text
    assert "cannot be deleted" in why and "drgero plan set" in why
    text_appears(browser, "By month")
    months = css(browser, "section[aria-labelledby=by-month] table").text
    assert re.search(r"\d{4}-\d{2} \$0\.\d+ \d+", months), months  # the month, its spend, its paid calls
    tokens = css(browser, "section[aria-labelledby=by-token] table").text
    assert re.search(r"owner \(every scope\) \$0\.\d+ \d+", tokens), tokens  # the token that started the run
    runs = css(browser, "section[aria-labelledby=by-run] table").text
    # The run by id and leaderboard name; its total is unknown (one candidate has no price).
    assert run_id in runs and "Costs partly unknown completed unknown" in runs, runs
    shot(browser, "46-billing-free-plan")
    page_is_sound(browser, "Billing")


def test_a_ranking_with_an_unknown_cost_never_says_zero(local_cloud, browser, unknown_cost_run):
    lb, _run = unknown_cost_run
    sign_in_local(browser, local_cloud.api_url)
    go(browser, local_cloud.api_url, f"/leaderboards/{lb}")
    wait(browser).until(lambda d: d.find_elements(By.ID, "winner"))
    rows = {
        r.find_element(By.CSS_SELECTOR, "td[data-label=Model]").text: r.find_element(
            By.CSS_SELECTOR, "td[data-label=Cost]"
        )
        for r in browser.find_elements(By.CSS_SELECTOR, "section[aria-labelledby=rank-title] tbody tr")
    }
    assert rows["house-model"].text == "unknown"
    assert rows[EXACT].text.startswith("$") and rows[EXACT].text != "$0.00"
    chart = browser.find_element(By.CSS_SELECTOR, "svg.cost-score")
    markup = chart.get_attribute("outerHTML")
    assert "NaN" not in markup and "Infinity" not in markup
    points = chart.find_elements(By.CSS_SELECTOR, "circle.dot")
    assert len(points) == 1  # only the priced model is placed
    assert "house-model: cost unknown" in chart.text
    # Every cost in the table is a known amount above zero or says it is unknown.
    for cell in browser.find_elements(By.CSS_SELECTOR, "section[aria-labelledby=rank-title] td[data-label=Cost]"):
        assert cell.text == "unknown" or float(cell.text.removeprefix("$")) > 0, cell.text
    shot(browser, "47-ranking-unknown-cost")
    page_is_sound(browser, "Ranking with unknown costs")
