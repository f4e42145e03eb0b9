"""The dashboard's "Sign in with <issuer>" in headless Chromium: authorization code + PKCE S256
against the local test OIDC issuer (tests/support/oidc_issuer.py), on a local cloud whose
authorizer trusts that issuer (RS256 keys from its JWKS). Click, come back signed in, see the
workspaces; nothing left in the URL or in localStorage, the verifier gone from sessionStorage;
sign-out visits the issuer's logout; a tampered state and a refusal at the issuer are shown in
plain words and sign nobody in; an abandoned sign-in (Back from the issuer) leaves no verifier."""

from __future__ import annotations

import json

import pytest
from selenium.webdriver.common.by import By

from tests.support.browser import clickable, console_errors, fresh, ready, text_appears, wait
from tests.support.oidc_issuer import CLIENT_ID, s256, start_issuer

PENDING_KEY = "drgero.oidc.pending"


@pytest.fixture(scope="module")
def issuer():
    issuer, stop = start_issuer(set(), set())
    yield issuer
    stop()


@pytest.fixture(scope="module")
def cloud(issuer):
    from localcloud.clock import ManualClock
    from localcloud.cloud import LocalCloud

    env = {
        "DRGERO_AUTH__JWT_ISSUER": issuer.url,
        "DRGERO_AUTH__JWT_AUDIENCE": CLIENT_ID,
        "DRGERO_AUTH__JWT_JWKS_URL": "",  # from the issuer's discovery document, as in AWS
        "DRGERO_AUTH__OIDC_CLIENT_ID": CLIENT_ID,
        "DRGERO_AUTH__OIDC_NAME": "Test SSO",
    }
    with LocalCloud(api_port=0, aws_port=0, sandbox_port=0, clock=ManualClock(), env_overrides=env) as cloud:
        # Registered at the issuer once the dashboard's port is known: its own URL, and its origin
        # for the token endpoint's CORS (the browser exchanges the code itself).
        issuer.redirect_uris.add(f"{cloud.api_url}/")
        issuer.allowed_origins.add(cloud.api_url)
        yield cloud


def storage(driver) -> dict:
    return driver.execute_script(
        "return {local: localStorage.length, pending: sessionStorage.getItem(arguments[0]),"
        " session: sessionStorage.getItem('drgero.session')}",
        PENDING_KEY,
    )


def click_oidc_sign_in(driver, base_url: str) -> None:
    fresh(driver, base_url)
    button = clickable(driver, "#oidc-signin")
    assert button.text == "Sign in with Test SSO"
    button.click()


def test_sign_in_with_the_issuer_comes_back_signed_in_with_nothing_left_behind(cloud, issuer, browser):
    click_oidc_sign_in(browser, cloud.api_url)
    wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#nav a"))
    ready(browser)
    # The URL carries neither the code nor the state; nothing persistent; the verifier is gone.
    assert "code=" not in browser.current_url and "state=" not in browser.current_url
    assert browser.current_url.startswith(f"{cloud.api_url}/")
    kept = storage(browser)
    assert kept["local"] == 0 and kept["pending"] is None
    session = json.loads(kept["session"])
    assert session["kind"] == "user" and session["email"] == "owner@drgero.local"
    assert session["credential"] not in browser.current_url
    # The issuer saw one PKCE S256 exchange from a public client, and it succeeded.
    authorization = issuer.authorizations[-1]
    exchange = issuer.exchanges[-1]
    assert exchange["refused"] is None and "client_secret" not in exchange["form"]
    verifier = exchange["form"]["code_verifier"]
    assert len(verifier) >= 43 and authorization["code_challenge_method"] == "S256"
    assert authorization["code_challenge"] == s256(verifier) and verifier not in authorization.values()
    assert exchange["form"]["redirect_uri"] == f"{cloud.api_url}/" == authorization["redirect_uri"]
    # The session is a real one: the workspaces are the seeded owner's.
    browser.get(f"{cloud.api_url}/#/workspaces")
    ready(browser)
    text_appears(browser, "Role: owner")
    assert not console_errors(browser)
    # Sign-out forgets the session and visits the issuer's logout, which sends the browser back.
    clickable(browser, "#who button").click()
    wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#oidc-signin"))
    assert browser.current_url.startswith(f"{cloud.api_url}/")
    assert browser.execute_script("return sessionStorage.length + localStorage.length") == 0


def test_a_tampered_state_signs_nobody_in(cloud, issuer, browser):
    exchanges = len(issuer.exchanges)
    issuer.tamper_state = True
    try:
        click_oidc_sign_in(browser, cloud.api_url)
        text_appears(browser, "state check failed")
    finally:
        issuer.tamper_state = False
    ready(browser)
    assert len(issuer.exchanges) == exchanges  # the code was never sent anywhere
    assert "code=" not in browser.current_url and "state=" not in browser.current_url
    kept = storage(browser)
    assert kept == {"local": 0, "pending": None, "session": None}
    assert not browser.find_elements(By.CSS_SELECTOR, "#nav a")
    assert not console_errors(browser)


def test_an_abandoned_sign_in_leaves_no_verifier_behind(cloud, issuer, browser):
    # The person starts, stays on the issuer's login page, then goes back to the dashboard.
    issuer.hold_authorize = True
    try:
        click_oidc_sign_in(browser, cloud.api_url)
        wait(browser).until(lambda d: d.current_url.startswith(f"{issuer.url}/authorize"))
    finally:
        issuer.hold_authorize = False
    browser.back()
    ready(browser)
    wait(browser, 5).until(lambda d: storage(d)["pending"] is None)
    assert storage(browser) == {"local": 0, "pending": None, "session": None}
    clickable(browser, "#oidc-signin")  # drawn afresh, enabled


def test_a_refusal_at_the_issuer_is_said_in_plain_words(cloud, issuer, browser):
    issuer.next_error = "access_denied"
    click_oidc_sign_in(browser, cloud.api_url)
    text_appears(browser, "Sign-in was cancelled or refused at the identity provider.")
    ready(browser)
    assert "error=" not in browser.current_url
    assert storage(browser) == {"local": 0, "pending": None, "session": None}
    # Trying again works.
    clickable(browser, "#oidc-signin").click()
    wait(browser).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#nav a"))
    assert not console_errors(browser)
