"""Headless Debian chromium driven by Selenium with the system chromedriver (nothing downloaded)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def have_chromium() -> bool:
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()


@contextmanager
def chromium() -> Iterator[object]:
    """A fresh headless chromium (own profile dir); the test server's self-made CA is not
    in the system store, so certificate errors are ignored for this throwaway profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="fk-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
              "--ignore-certificate-errors", f"--user-data-dir={profile}", "--window-size=1280,2000"):
        opts.add_argument(a)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    driver.implicitly_wait(10)  # a loaded machine may render a page late
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def click_and_load(driver: object, element: object, timeout: float = 30.0) -> None:
    """Click something that navigates (a link, a form's submit) and wait until the new page
    has loaded, so the next look-up reads the new page and never the old one.

    The old page is marked with a window property (DevTools evaluation is not subject to the
    page's CSP); chromedriver may answer with odd errors while a navigation is under way, so
    those are retried rather than raised."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    driver.execute_script("window.__fkOldPage = true;")  # type: ignore[attr-defined]
    element.click()  # type: ignore[attr-defined]
    loaded = "return window.__fkOldPage !== true && document.readyState === 'complete';"
    WebDriverWait(driver, timeout, poll_frequency=0.1, ignored_exceptions=(WebDriverException,)).until(
        lambda d: d.execute_script(loaded))
