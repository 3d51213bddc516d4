"""Melodex Studio in a real browser: headless Chromium (Debian's, driven by Selenium) against the studio
served by uvicorn in this process, so the tiny random-weight models stand in for the shipped ones.

It types a prompt, builds a form, generates, regenerates a section, checks the history and the audio
element, undoes, sets the tempo from the song controls (a branch in the history tree, the chips follow),
checks the new controls and downloads, loops the chorus, lays the page out at 420 px without sideways
scrolling, and saves screenshots. Without Chromium this test fails: install it with
scripts/test.sh (Debian packages chromium and chromium-driver). Set MELODEX_SCREENSHOTS=DIR to keep
the screenshots.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
TIMEOUT = 240  # seconds for a job on a busy 2-core machine

pytestmark = pytest.mark.slow


@pytest.fixture
def studio_url(tiny_models, tmp_path):
    import uvicorn

    from melodex.server import ServerOptions, create_app

    app = create_app(ServerOptions(data_dir=tmp_path / "data", cpu_threads=1))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the studio server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(30)


@pytest.fixture
def browser(tmp_path, monkeypatch):
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("Chromium is needed for the studio browser test: run scripts/test.sh "
                    "(apt packages chromium and chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must never download a browser or driver
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required", "--window-size=1440,1250",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def test_generate_regenerate_section_listen_and_undo(studio_url, browser, tmp_path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    shots = tmp_path / "screenshots"
    shots.mkdir()
    wait = WebDriverWait(browser, TIMEOUT, poll_frequency=0.25)
    js = browser.execute_script

    def history() -> list[tuple[str, str, bool]]:
        # read in one script: the list is re-rendered while jobs finish, so element handles go stale
        rows = js("return [...document.querySelectorAll('#history li')].map((li) => [li.dataset.version, "
                  "li.querySelector('.edit').textContent, li.classList.contains('current')]);")
        return [tuple(row) for row in rows]

    def audio_ready(version: str):
        return lambda _: js("const a = document.getElementById('audio');"
                            "return a.src.includes('/versions/' + arguments[0] + '/') && a.duration > 0 "
                            "? a.duration : 0;", version)

    browser.get(studio_url + "/")
    wait.until(ec.element_to_be_clickable((By.ID, "generate")))
    wait.until(lambda _: len(Select(browser.find_element(By.ID, "sample-rate")).options) > 1)
    browser.find_element(By.ID, "prompt").send_keys("piano and bass, 120 BPM, C major")
    for _ in range(3):
        browser.find_element(By.ID, "add-section").click()
    rows = browser.find_elements(By.CSS_SELECTOR, "#form-builder .section-row")
    assert [Select(r.find_element(By.CSS_SELECTOR, "select")).first_selected_option.text for r in rows] == [
        "intro", "verse", "chorus"]
    for row in rows:
        bars = row.find_element(By.CSS_SELECTOR, ".section-bars")
        bars.clear()
        bars.send_keys("2")
    assert browser.find_element(By.ID, "form-total").text == "3 sections, 6 bars."
    Select(browser.find_element(By.ID, "renderer")).select_by_value("soundfont")
    Select(browser.find_element(By.ID, "sample-rate")).select_by_value("22050")
    steps = browser.find_element(By.ID, "steps")
    steps.clear()
    steps.send_keys("2")
    browser.find_element(By.ID, "generate").click()

    wait.until(lambda _: len(history()) == 1)
    assert history() == [("0001", "generate", True)]
    duration = wait.until(audio_ready("0001"))
    # 6 bars of 4/4 at 120 BPM are 12 s; the mix also holds the notes' release and reverb tails
    assert duration >= 11.9 and abs(duration - js("return state.view.duration")) < 0.05, duration
    sections = browser.find_elements(By.CSS_SELECTOR, "#timeline .section")
    assert [s.get_attribute("data-section") for s in sections] == ["intro", "verse", "chorus"]
    assert browser.find_elements(By.CSS_SELECTOR, "#tracks li")
    drawn = js("const c = document.getElementById('pianoroll');"
               "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
               "let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n;")
    assert drawn > 1000, "the piano roll is empty"
    browser.save_screenshot(str(shots / "studio_generated.png"))

    browser.find_element(By.CSS_SELECTOR, '.regen-section[data-section="verse"]').click()
    wait.until(lambda _: len(history()) == 2)
    assert history() == [("0001", "generate", False), ("0002", "regen verse", True)]  # a tree: parent first
    assert wait.until(audio_ready("0002")) > 0
    browser.find_element(By.CSS_SELECTOR, '.tab[data-view="spectrogram"]').click()
    wait.until(lambda _: js("const i = document.getElementById('spectrogram');"
                            "return !i.hidden && i.complete && i.naturalWidth > 0 "
                            "&& i.src.includes('/versions/0002/');"))
    lit = js("const i = document.getElementById('spectrogram'); const c = document.createElement('canvas');"
             "c.width = i.naturalWidth; c.height = i.naturalHeight; const g = c.getContext('2d');"
             "g.drawImage(i, 0, 0); const d = g.getImageData(0, 0, c.width, c.height).data;"
             "let n = 0; for (let k = 0; k < d.length; k += 4) if (d[k] > 120) n++; return n / (d.length / 4);")
    assert 0.002 < lit < 0.9, f"the spectrogram looks blank or saturated ({lit:.1%} bright pixels)"
    browser.find_element(By.CSS_SELECTOR, '#timeline .section[data-section="verse"]').click()
    browser.save_screenshot(str(shots / "studio_regenerated.png"))

    browser.find_element(By.ID, "undo").click()
    wait.until(lambda _: [h[0] for h in history() if h[2]] == ["0001"])
    assert wait.until(audio_ready("0001")) > 0
    assert browser.find_element(By.ID, "project-error").get_attribute("hidden") is not None

    # A song edit from the controls after the undo: a branch of 0001, shown above the older one
    tempo = browser.find_element(By.ID, "tempo-bpm")
    tempo.send_keys("90")
    browser.find_element(By.ID, "do-tempo").click()
    wait.until(lambda _: len(history()) == 3)
    assert history() == [("0001", "generate", False), ("0003", "set tempo 90 BPM", True),
                         ("0002", "regen verse", False)]
    depths = js("return [...document.querySelectorAll('#history li')].map((li) => li.style.paddingLeft);")
    assert depths == ["0px", "12px", "12px"]
    assert wait.until(audio_ready("0003")) > duration  # slower: longer
    assert js("return document.querySelector('#brief [data-what=tempo] .value').textContent") == "90 BPM"
    for control in ("do-extend", "do-variation", "do-rerender", "do-transpose", "dl-flac", "dl-mp3"):
        assert browser.find_element(By.ID, control).is_displayed(), control
    assert browser.find_element(By.ID, "dl-mp3").get_attribute("href").endswith("/versions/0003/mix.mp3")
    browser.save_screenshot(str(shots / "studio_branch.png"))

    # Loop the chorus: playback past its end comes back to its start
    browser.find_element(By.CSS_SELECTOR, '#timeline .section[data-section="chorus"]').click()
    browser.find_element(By.ID, "loop").click()
    chorus = js("return state.view.sections.find((s) => s.name === 'chorus')")
    js("const a = document.getElementById('audio'); a.currentTime = arguments[0]; a.play();", chorus["end"] - 0.3)
    wait.until(lambda _: js("return document.getElementById('audio').currentTime") < chorus["end"] - 0.5)
    assert js("return document.getElementById('audio').currentTime") >= chorus["start"] - 0.05
    js("document.getElementById('audio').pause();")

    browser.set_window_size(420, 900)  # a phone held upright: no sideways scrolling
    wait.until(lambda _: js("return window.innerWidth") <= 420)
    assert js("return document.documentElement.scrollWidth <= window.innerWidth"), \
        js("return [document.documentElement.scrollWidth, window.innerWidth]")
    browser.save_screenshot(str(shots / "studio_420px.png"))

    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE" and "favicon" not in e["message"]]
    assert not severe, severe
    for shot in shots.iterdir():
        assert shot.stat().st_size > 10_000
    if os.environ.get("MELODEX_SCREENSHOTS"):
        target = Path(os.environ["MELODEX_SCREENSHOTS"])
        target.mkdir(parents=True, exist_ok=True)
        for shot in shots.iterdir():
            shutil.copy(shot, target / shot.name)
