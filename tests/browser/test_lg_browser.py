"""The looking glass in a real headless browser (Debian's Chromium).

Run by the Molecule scenario `looking_glass` (verify), against its front
end: CARIBIX_LG_URL (e.g. https://192.0.2.150) names it. Chromium and
chromedriver come from Debian (scripts/controller-packages.txt); selenium
drives /usr/bin/chromedriver directly, so nothing is downloaded. The lab
certificate is self-signed, hence acceptInsecureCerts. Screenshots (a
desktop and a phone-sized window) go to artifacts/looking_glass/.
"""

import os
from pathlib import Path

import pytest

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

LG_URL = os.environ.get("CARIBIX_LG_URL", "")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "looking_glass"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]

pytestmark = pytest.mark.skipif(
    not LG_URL,
    reason="runs in molecule/looking_glass's verify step, which deploys the looking glass and sets CARIBIX_LG_URL (not in the unit stage)",
)


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.set_capability("acceptInsecureCerts", True)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(30)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def wait_for_heading(browser, start):
    """Wait until the page that a click or a submit opened has loaded."""
    WebDriverWait(browser, 20).until(
        expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "h1"), start)
    )


def test_http_redirects_to_https_and_lists_the_member_on_both_route_servers(browser):
    browser.set_window_size(1280, 900)
    browser.get(LG_URL.replace("https://", "http://") + "/")
    assert browser.current_url.startswith("https://")
    for family in ("ipv4", "ipv6"):
        table = browser.find_element(By.ID, f"sessions-{family}")
        member_rows = table.find_elements(By.CSS_SELECTOR, 'tr[data-asn="64500"]')
        assert sorted(row.get_attribute("data-rs") for row in member_rows) == [
            "lg-rs1",
            "lg-rs2",
        ]
        for row in member_rows:
            assert "Karukera Telecom" in row.text
            assert "Established" in row.text
    browser.save_screenshot(str(ARTIFACTS / "sessions.png"))


def test_neighbor_page_shows_why_each_route_was_filtered(browser):
    browser.set_window_size(1280, 900)
    browser.get(LG_URL + "/")
    link = browser.find_element(
        By.CSS_SELECTOR, '#sessions-ipv4 tr[data-asn="64500"][data-rs="lg-rs1"] a'
    )
    link.click()
    wait_for_heading(browser, "Karukera Telecom on lg-rs1")
    assert "Karukera Telecom" in browser.find_element(By.ID, "member").text
    filtered = {
        row.find_element(By.CSS_SELECTOR, "td.prefix")
        .text: row.find_element(By.CSS_SELECTOR, "td.reason")
        .text
        for row in browser.find_elements(By.CSS_SELECTOR, "#filtered-routes tbody tr")
    }
    assert filtered == {
        "198.51.100.0/24": "RPKI INVALID route (code 14)",
        "203.0.113.128/25": "Invalid prefix length (code 13)",
    }
    accepted = [
        cell.text
        for cell in browser.find_elements(By.CSS_SELECTOR, "#accepted-routes td.prefix")
    ]
    assert accepted == ["203.0.113.0/24"]
    browser.save_screenshot(str(ARTIFACTS / "neighbor-filtered-routes.png"))


def test_phone_sized_lookup_by_asn(browser):
    browser.set_window_size(390, 844)
    browser.get(LG_URL + "/")
    box = browser.find_element(By.ID, "q")
    box.send_keys("AS64500")
    box.submit()
    wait_for_heading(browser, "Lookup AS64500")
    body = browser.find_element(By.TAG_NAME, "main").text
    assert "Sessions of Karukera Telecom (AS64500)" in body
    assert "Prefix not in IRRDB AS-SETs (code 12)" in body
    # The page fits the phone's width: no horizontal scrolling of the page.
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 390
    browser.save_screenshot(str(ARTIFACTS / "phone-lookup-asn.png"))
    filtered = browser.find_element(By.ID, "lookup-filtered")
    browser.execute_script("arguments[0].scrollIntoView()", filtered)
    browser.save_screenshot(str(ARTIFACTS / "phone-lookup-asn-filtered.png"))


def test_invalid_input_gets_a_clear_400(browser):
    browser.set_window_size(1280, 900)
    browser.get(LG_URL + "/lookup?q=%3Cscript%3Ealert(1)%3C/script%3E")
    assert "invalid lookup" in browser.find_element(By.ID, "error").text
    assert browser.find_element(By.TAG_NAME, "h1").text == "Invalid request"
