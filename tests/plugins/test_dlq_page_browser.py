"""The Dead letters page in headless Chromium, inside the Airflow UI, as a data engineer uses it.

Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them). Writes `docs/dlq-page.png`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_integrations.core.dlq import DLQEntry, DLQStatus
from tests.plugins.conftest import REPLAY_DAG_ID, AirflowApi, at, run_context, seed

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "dlq-page.png"
XSS = '<script>window.__dlqXss = 1</script><img src=x onerror="window.__dlqXss = 1">'

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="needs /usr/bin/chromium and /usr/bin/chromedriver (apt-get install chromium chromium-driver)",
)


@pytest.fixture(scope="module")
def entries(airflow_api: AirflowApi) -> list[DLQEntry]:
    """A morning's dead letters, dated after every other test's so a date filter shows only these."""
    ingest = run_context("salesforce_ingest", "scheduled__2026-11-20T06:00:00+00:00")
    reverse = run_context("stripe_reverse_etl", "scheduled__2026-11-20T07:00:00+00:00")
    specs: list[dict[str, Any]] = [
        dict(
            system="salesforce",
            stream="Opportunity",
            operation="read",
            error=("SchemaError", "Amount: 'n/a' is not a number"),
            record_key="0065g00000XyZ1A",
            payload={"Id": "0065g00000XyZ1A", "Amount": "n/a", "Name": XSS},
            context=ingest,
            now=at("2026-11-20T06:04:11+00:00"),
        ),
        dict(
            system="salesforce",
            stream="Account",
            operation="read",
            error=("SchemaError", "Name: required field is missing"),
            record_key="0015g00000AbC2B",
            payload={"Id": "0015g00000AbC2B", "Name": None},
            context=ingest,
            now=at("2026-11-20T06:05:42+00:00"),
        ),
        dict(
            system="stripe",
            stream="customers",
            operation="update",
            error=("PermanentWriteError", "resource_missing: No such customer: 'cus_Q1w2e3'"),
            record_key="cus_Q1w2e3",
            payload={"id": "cus_Q1w2e3", "metadata": {"segment": "enterprise"}},
            context=reverse,
            now=at("2026-11-20T07:02:03+00:00"),
        ),
        dict(
            system="stripe",
            stream="customers",
            operation="update",
            error=("PermanentWriteError", "parameter_invalid_string: email is invalid"),
            record_key="cus_R4t5y6",
            payload={"id": "cus_R4t5y6", "email": "not-an-email"},
            context=reverse,
            now=at("2026-11-20T07:02:04+00:00"),
        ),
        dict(
            system="workday",
            stream="workers",
            operation="read",
            error=("SchemaError", "hireDate: '2026-13-01' is not a date"),
            record_key="21001",
            payload={"id": "21001", "hireDate": "2026-13-01"},
            context=run_context("workday_ingest", "scheduled__2026-11-20T08:00:00+00:00"),
            now=at("2026-11-20T08:01:30+00:00"),
        ),
    ]
    return seed(airflow_api, specs)


@pytest.fixture(scope="module")
def browser(airflow_api: AirflowApi) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1440,900"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver: Any, condition: Any, timeout: float = 20) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def _rows(driver: Any) -> list[Any]:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, "table#entries tbody tr[data-entry-id]")


def _row_keys(driver: Any) -> set[str]:
    from selenium.webdriver.common.by import By

    return {row.find_element(By.CSS_SELECTOR, "td code").text for row in _rows(driver)}


def test_a_data_engineer_works_through_dead_letters_in_the_airflow_ui(
    airflow_api: AirflowApi, entries: list[DLQEntry], browser: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select

    driver = browser
    xss_entry, _, stripe_entry, *_ = entries

    # Sign in through Airflow's own login form; it brings us back to the page inside the Airflow UI.
    driver.get(f"{airflow_api.url}/plugin/dead-letters")
    _wait(driver, ec.presence_of_element_located((By.NAME, "username"))).send_keys("admin")
    driver.find_element(By.NAME, "password").send_keys(airflow_api.passwords["admin"])
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    frame = _wait(driver, ec.presence_of_element_located((By.CSS_SELECTOR, "iframe[title='Dead letters']")))
    assert "/plugin/dead-letters" in driver.current_url
    driver.switch_to.frame(frame)
    _wait(driver, lambda d: {e.record_key for e in entries} <= _row_keys(d))
    driver.get_log("browser")  # from here on the console must stay clean (before, /ui/config said 401)

    # Filter: this morning's new entries.
    table = driver.find_element(By.ID, "entries")
    since = driver.find_element(By.NAME, "since")
    driver.execute_script("arguments[0].value = '2026-11-20'", since)
    Select(driver.find_element(By.NAME, "status")).select_by_value("new")
    driver.find_element(By.ID, "apply").click()
    _wait(driver, ec.staleness_of(table))
    _wait(driver, lambda d: len(_rows(d)) == len(entries))
    assert _row_keys(driver) == {e.record_key for e in entries}
    assert driver.find_element(By.NAME, "since").get_attribute("value") == "2026-11-20"
    driver.switch_to.default_content()
    SCREENSHOT.parent.mkdir(exist_ok=True)
    assert driver.save_screenshot(str(SCREENSHOT))
    driver.switch_to.frame(driver.find_element(By.CSS_SELECTOR, "iframe[title='Dead letters']"))

    # Narrow to one system.
    system = driver.find_element(By.NAME, "system")
    system.send_keys("stripe")
    table = driver.find_element(By.ID, "entries")
    driver.find_element(By.ID, "apply").click()
    _wait(driver, ec.staleness_of(table))
    assert _row_keys(driver) == {"cus_Q1w2e3", "cus_R4t5y6"}
    assert {row.find_elements(By.TAG_NAME, "td")[2].text for row in _rows(driver)} == {"stripe"}

    # The entry with a hostile payload: shown as text, never run.
    driver.get(f"{airflow_api.url}/plugin/dead-letters")
    frame = _wait(driver, ec.presence_of_element_located((By.CSS_SELECTOR, "iframe[title='Dead letters']")))
    driver.switch_to.frame(frame)
    _wait(driver, lambda d: xss_entry.record_key in _row_keys(d))
    driver.find_element(By.CSS_SELECTOR, f"tr[data-entry-id='{xss_entry.id}'] a").click()
    payload = _wait(driver, ec.visibility_of_element_located((By.ID, "payload")))
    assert "<script>window.__dlqXss = 1</script>" in payload.text
    assert driver.execute_script("return window.__dlqXss") is None
    assert not driver.find_elements(By.CSS_SELECTOR, "#payload script, #payload img")

    # Resolve it with a note: the status changes on the page and in the store.
    driver.find_element(By.ID, "note").send_keys("Amount fixed in Salesforce")
    driver.find_element(By.CSS_SELECTOR, "button[data-action=resolve]").click()
    status = driver.find_element(By.CSS_SELECTOR, f"[data-status-of='{xss_entry.id}']")
    _wait(driver, lambda d: status.text == "resolved")
    assert "Resolved 1 entry" in driver.find_element(By.ID, "result").text
    stored = airflow_api.store().get(xss_entry.id)
    assert stored is not None
    assert (stored.status, stored.status_note) == (DLQStatus.RESOLVED, "Amount fixed in Salesforce")

    # Replay it: the page shows the run id of the replay DAG, and Airflow has that run.
    driver.find_element(By.CSS_SELECTOR, "button[data-action=replay]").click()
    run_link = _wait(driver, ec.visibility_of_element_located((By.CSS_SELECTOR, "#result a.run-id")))
    run_id = run_link.text
    assert run_id.startswith("manual__")
    assert f"/dags/{REPLAY_DAG_ID}/runs/" in run_link.get_attribute("href")
    with airflow_api.client("admin") as client:
        run = client.get(f"/api/v2/dags/{REPLAY_DAG_ID}/dagRuns/{run_id}").json()
    assert run["conf"] == {"entry_ids": [xss_entry.id]}
    assert run["triggered_by"] == "ui"

    # Several at once from the list: select both stripe entries, replay them together.
    driver.get(f"{airflow_api.url}/dead-letters/?system=stripe&since=2026-11-20")
    for row in _rows(driver):
        row.find_element(By.CSS_SELECTOR, "input.pick").click()
    driver.find_element(By.CSS_SELECTOR, "button[data-action=replay]").click()
    run_id = _wait(driver, ec.visibility_of_element_located((By.CSS_SELECTOR, "#result a.run-id"))).text
    with airflow_api.client("admin") as client:
        run = client.get(f"/api/v2/dags/{REPLAY_DAG_ID}/dagRuns/{run_id}").json()
    assert sorted(run["conf"]["entry_ids"]) == sorted(e.id for e in entries if e.system == "stripe")
    assert stripe_entry.id in run["conf"]["entry_ids"]
    # No script errors and no Content-Security-Policy violations on the way.
    assert [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
