"""Melodex Studio in a real browser: headless Chromium (Debian's, driven by Selenium) against the studio
served by uvicorn in this process, so the tiny random-weight models stand in for the shipped ones.

It types a prompt, builds a form, generates, regenerates a section, checks the history and the audio element,
undoes and redoes, sets the tempo from the song controls (a branch in the version tree, drawn with branch
lines; the chips follow), transposes, extends and rechords (the bars being rewritten pulse while the job runs,
the changed bars are marked after it, the diff is listed), cancels a queued job, downloads an export zip with
options and shows an export the API refuses, mutes and solos tracks (measured at the page's output), loops
bars picked by dragging on the piano roll, plays and pauses with the space bar, lays the page out at 420 px
without sideways scrolling, and saves screenshots. Without Chromium this test fails: install it with
scripts/test.sh (Debian packages chromium and chromium-driver). Set MELODEX_SCREENSHOTS=DIR to keep the
screenshots.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
import soundfile

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
def shots(tmp_path):
    """Where the test saves screenshots; with MELODEX_SCREENSHOTS=DIR they are kept there, a failed run's too."""
    folder = tmp_path / "screenshots"
    folder.mkdir()
    yield folder
    if os.environ.get("MELODEX_SCREENSHOTS"):
        target = Path(os.environ["MELODEX_SCREENSHOTS"])
        target.mkdir(parents=True, exist_ok=True)
        for shot in folder.iterdir():
            shutil.copy(shot, target / shot.name)


@pytest.fixture
def downloads(tmp_path) -> Path:
    folder = tmp_path / "downloads"
    folder.mkdir()
    return folder


@pytest.fixture
def browser(tmp_path, monkeypatch, downloads):
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
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def test_generate_regenerate_section_listen_and_undo(studio_url, browser, downloads, shots, tmp_path) -> None:
    import zipfile

    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    # the page redraws its lists as jobs move: an element found in one poll may be gone by the next call
    wait = WebDriverWait(browser, TIMEOUT, poll_frequency=0.25, ignored_exceptions=(StaleElementReferenceException,))
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
    # the Output group (collapsed): the create body's output fields, as `melodex generate` takes them
    assert not browser.find_element(By.ID, "output-stems").is_displayed()
    browser.find_element(By.CSS_SELECTOR, "#output summary").click()
    Select(browser.find_element(By.ID, "sample-rate")).select_by_value("22050")
    browser.find_element(By.CSS_SELECTOR, '.output-format[value="mp3"]').click()
    Select(browser.find_element(By.ID, "output-kbps")).select_by_value("128")
    browser.find_element(By.ID, "output-click").click()
    steps = browser.find_element(By.ID, "steps")
    steps.clear()
    steps.send_keys("2")
    browser.find_element(By.ID, "generate").click()

    wait.until(lambda _: len(history()) == 1)
    assert history() == [("0001", "generate", True)]
    duration = wait.until(audio_ready("0001"))
    made = {p.name for p in (tmp_path / "data" / "projects" / js("return state.pid")).iterdir()}
    assert {"mix.wav", "mix.mp3", "click.wav", "song.mid"} <= made, made  # the job wrote what Output asked
    assert js("return state.summary.request.options.mp3_kbps") == 128
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
    browser.find_element(By.ID, "redo").click()  # forward again to the version made from 0001
    wait.until(lambda _: [h[0] for h in history() if h[2]] == ["0002"])
    wait.until(lambda _: browser.find_element(By.ID, "undo").is_enabled())
    browser.find_element(By.ID, "undo").click()
    wait.until(lambda _: [h[0] for h in history() if h[2]] == ["0001"])
    wait.until(audio_ready("0001"))

    # A song edit from the controls after the undo: a branch of 0001, shown above the older one
    tempo = browser.find_element(By.ID, "tempo-bpm")
    tempo.send_keys("90")
    browser.find_element(By.ID, "do-tempo").click()
    wait.until(lambda _: len(history()) == 3)
    assert history() == [("0001", "generate", False), ("0003", "set tempo 90 BPM", True),
                         ("0002", "regen verse", False)]
    branches = js("return [...document.querySelectorAll('#history li')].map((li) => "
                  "[li.dataset.depth, li.querySelector('.branch').textContent]);")
    assert branches == [["0", ""], ["1", "├─"], ["1", "└─"]]
    assert wait.until(audio_ready("0003")) > duration  # slower: longer
    assert js("return document.querySelector('#brief [data-what=tempo] .value').textContent") == "90 BPM"
    for control in ("do-extend", "do-variation", "do-rerender", "do-transpose", "do-rechord", "dl-flac", "dl-mp3"):
        assert browser.find_element(By.ID, control).is_displayed(), control
    assert "/versions/0003/export/mix.mp3?" in browser.find_element(By.ID, "dl-mp3").get_attribute("href")
    assert "set tempo 90 BPM" in browser.find_element(By.ID, "changes-title").text
    wait.until(lambda _: js("return [...document.querySelectorAll('#changes-list li')].some("
                            "(li) => li.textContent.startsWith('tempo 120 -> 90'))"))
    browser.save_screenshot(str(shots / "studio_branch.png"))

    # A bad value is refused by the API, and its message is on the page
    strength = browser.find_element(By.ID, "variation-strength")
    strength.clear()
    browser.find_element(By.ID, "do-variation").click()
    error = wait.until(ec.visibility_of_element_located((By.ID, "project-error")))
    assert "strength" in error.text, error.text

    # Transpose: every bar pulses while the job waits or runs; the key and chords chips follow
    chords_before = js("return document.querySelector('#brief [data-what=chords] .value').textContent")
    shift = browser.find_element(By.ID, "transpose-semitones")
    shift.clear()
    shift.send_keys("2")
    browser.find_element(By.ID, "do-transpose").click()
    wait.until(lambda _: js("return document.querySelectorAll('#timeline .bar-mark.rewriting').length") == 6)
    wait.until(lambda _: len(history()) == 4 and history()[2][0] == "0004")
    wait.until(audio_ready("0004"))
    assert js("return document.querySelector('#brief [data-what=key] .value').textContent") == "D major"
    assert js("return document.querySelector('#brief [data-what=chords] .value').textContent") != chords_before
    assert js("return document.querySelectorAll('#timeline .bar-mark.rewriting').length") == 0

    # Extend: the bars to come are tagged while the job runs; after it the new bars are marked as changed
    bars = browser.find_element(By.ID, "extend-bars")
    bars.clear()
    bars.send_keys("2")
    browser.find_element(By.ID, "do-extend").click()
    # read in the page: the timeline is redrawn while the job runs, so a found element can go stale at once
    growing = "return [...document.querySelectorAll('#timeline .growing')].map(e => e.textContent)"
    assert wait.until(lambda _: js(growing))[0] == "+2 bars"
    wait.until(lambda _: len(history()) == 5)
    wait.until(audio_ready("0005"))
    assert js("return [...document.querySelectorAll('#timeline .bar-mark.changed')].map((m) => m.dataset.bar)"
              ) == ["7", "8"]
    assert js("return document.querySelector('#brief [data-what=length] .value').textContent").startswith("8 bars")
    assert not browser.find_elements(By.CSS_SELECTOR, "#timeline .growing")
    assert browser.find_element(By.ID, "project-error").get_attribute("hidden") is not None

    # Rechord the chorus from the song controls: its bars pulse while the job runs, then hold the new chords
    chords_before = js("return document.querySelector('#brief [data-what=chords] .value').textContent")
    Select(browser.find_element(By.ID, "rechord-section")).select_by_value("chorus")
    browser.find_element(By.ID, "rechord-chords").send_keys("Am F")
    browser.find_element(By.ID, "do-rechord").click()
    wait.until(lambda _: js("return [...document.querySelectorAll('#timeline .bar-mark.rewriting')].map("
                            "(m) => m.dataset.bar)") == ["5", "6", "7", "8"])
    wait.until(lambda _: len(history()) == 6)
    wait.until(audio_ready("0006"))
    # chords by their lead-sheet names
    assert js("return state.view.chords.filter((c) => c.bar >= 4).map((c) => c.name)") == ["Am", "F", "Am", "F"]
    assert js("return document.querySelector('#brief [data-what=chords] .value').textContent") != chords_before

    # Two re-renders: the second waits in the queue, and cancelled from there it never runs; the page says so
    browser.find_element(By.ID, "do-rerender").click()
    wait.until(lambda _: js("return state.jobs.size") == 1)
    browser.find_element(By.ID, "do-rerender").click()
    cancel = "const b = document.querySelector('#queue li .cancel'); if (b) b.click(); return Boolean(b)"
    wait.until(lambda _: js(cancel))  # found and clicked in one step: the queue list is redrawn as jobs move
    cancelled = "Re-rendering: cancelled, nothing changed"
    wait.until(lambda _: cancelled in browser.find_element(By.ID, "project-error").text)
    wait.until(lambda _: len(history()) == 7)  # the first one ran
    wait.until(lambda _: browser.find_element(By.ID, "job").get_attribute("hidden") is not None)
    assert len(history()) == 7 and not browser.find_elements(By.CSS_SELECTOR, "#queue li")
    assert cancelled in browser.find_element(By.ID, "project-error").text  # kept after the page refreshed
    wait.until(audio_ready("0007"))

    # Export with options: FLAC and MP3 mixes, dry stems, a click; the zip lands in the download folder
    browser.find_element(By.CSS_SELECTOR, "#export summary").click()
    for fmt in ("flac", "mp3"):
        browser.find_element(By.CSS_SELECTOR, f'.export-format[value="{fmt}"]').click()
    Select(browser.find_element(By.ID, "export-stems")).select_by_value("dry")
    browser.find_element(By.ID, "export-click").click()
    browser.save_screenshot(str(shots / "studio_export.png"))
    browser.find_element(By.ID, "do-export").click()
    zipped = wait.until(lambda _: [p for p in downloads.glob("*-export.zip")])
    names = [n.split("/", 1)[1] for n in zipfile.ZipFile(zipped[0]).namelist()]
    assert {"mix.wav", "mix.flac", "mix.mp3", "click.wav", "song.mid"} <= set(names), names
    assert any(n.startswith("stems/") for n in names) and not any("reverb" in n for n in names)  # dry: no room
    for fmt in ("wav", "mp3"):  # FLAC alone, in 32 bits: the API's 400, said on the page
        browser.find_element(By.CSS_SELECTOR, f'.export-format[value="{fmt}"]').click()
    Select(browser.find_element(By.ID, "export-bits")).select_by_value("32")
    browser.find_element(By.ID, "do-export").click()
    error = wait.until(ec.visibility_of_element_located((By.ID, "project-error")))
    assert error.text.startswith("Download failed") and "FLAC holds 16 or 24" in error.text, error.text
    browser.find_element(By.CSS_SELECTOR, '.export-format[value="flac"]').click()  # no format at all
    browser.find_element(By.ID, "do-export").click()
    assert "at least one format" in browser.find_element(By.ID, "project-error").text
    assert len(list(downloads.glob("*.zip"))) == 1  # neither refused export downloaded anything
    # The quick links take the form's quality (they fetched the stored 24-bit files at the song's rate before)
    Select(browser.find_element(By.ID, "export-bits")).select_by_value("16")
    Select(browser.find_element(By.ID, "export-rate")).select_by_value("48000")
    browser.find_element(By.ID, "dl-wav").click()
    quick = wait.until(lambda _: list(downloads.glob("*-0007-mix.wav")))
    info = soundfile.info(quick[0])
    assert (info.samplerate, info.subtype) == (48000, "PCM_16"), info
    browser.find_element(By.CSS_SELECTOR, "#export summary").click()

    # Mute and solo: the stems play through Web Audio, measured at the page's output
    def level(seconds: float = 0.6) -> float:
        time.sleep(seconds)
        return js("return Math.max(...Array.from({length: 8}, () => mixer.level()))")

    # the track with the most notes, played from its first note (a tiny model's part can rest for bars)
    busiest, first_note = js("const t = [...state.view.tracks].sort((a, b) => b.notes.length - a.notes.length)[0];"
                             "return [t.index, t.notes[0][0]];")
    track = f'#tracks li[data-channel="{busiest}"]'
    js("const a = document.getElementById('audio'); a.currentTime = arguments[0]; a.play();", first_note)
    browser.find_element(By.CSS_SELECTOR, f"{track} .solo").click()
    wait.until(lambda _: js("return mixer.playingStems()"))
    assert "1 soloed" in browser.find_element(By.ID, "mixer-status").text

    def gains() -> list[float]:  # the gains glide (setTargetAtTime, 10 ms): read them once they have settled
        return js("return [mixer.mixGain.gain.value, ...mixer.gains.map((g) => g.gain.value)]")

    def only_soloed(_: object) -> bool:
        now = gains()
        return now[0] < 0.01 and [i for i, g in enumerate(now[1:]) if g > 0.99] == [busiest] \
            and sorted(now[1:])[-2] < 0.01

    wait.until(only_soloed, "only the soloed track's gain should be open")
    n_gains = len(gains())
    assert js("return mixer.sources.length") == n_gains - 1
    js("const a = document.getElementById('audio'); a.currentTime = arguments[0]; a.play();", first_note)
    assert level() > 1e-3, ("the soloed track is silent", js(
        "return [mixer.ctx.state, mixer.ctx.currentTime, mixer.sources.length, mixer.offset, "
        "document.getElementById('audio').currentTime, mixer.buffers.map((b) => b.duration)]"))
    browser.find_element(By.CSS_SELECTOR, f"{track} .mute").click()  # mute wins over solo
    assert level() < 1e-4, "muted, and still heard"
    assert js("return !document.getElementById('audio').paused")  # the transport went on
    browser.save_screenshot(str(shots / "studio_mixer.png"))
    for kind in ("mute", "solo"):
        browser.find_element(By.CSS_SELECTOR, f"{track} .{kind}").click()
    js("const a = document.getElementById('audio'); a.currentTime = arguments[0]; a.play();", first_note)
    assert not js("return mixer.playingStems()") and level() > 1e-3  # the mix again
    js("document.getElementById('audio').pause();")

    # Loop bars picked by dragging across the piano roll: playback past their end comes back to their start
    browser.find_element(By.CSS_SELECTOR, '.tab[data-view="roll"]').click()
    roll = browser.find_element(By.ID, "pianoroll")
    width = roll.size["width"]
    lines = js("return state.view.bar_lines")
    total = js("return state.view.duration")
    x_of = lambda seconds: int(seconds / total * width - width / 2)  # noqa: E731  offsets from the centre
    ActionChains(browser).move_to_element_with_offset(roll, x_of((lines[2] + lines[3]) / 2), 0).click_and_hold() \
        .move_to_element_with_offset(roll, x_of((lines[3] + lines[4]) / 2), 0).release().perform()
    assert browser.find_element(By.ID, "selection-label").text == "bars 3–4 (the verse)"
    browser.find_element(By.ID, "loop").click()
    js("const a = document.getElementById('audio'); a.currentTime = arguments[0]; a.play();", lines[4] - 0.3)
    wait.until(lambda _: js("return document.getElementById('audio').currentTime") < lines[4] - 0.5)
    assert js("return document.getElementById('audio').currentTime") >= lines[2] - 0.05
    js("document.getElementById('audio').pause();")
    browser.find_element(By.CSS_SELECTOR, '#timeline .section[data-section="chorus"]').click()
    assert browser.find_element(By.ID, "selection-label").text == "bars 5–8 (the chorus)"  # the extension grew it
    browser.find_element(By.ID, "loop").click()

    # Space plays and pauses (not while typing in a box)
    js("document.activeElement.blur();")  # the keys go to the page, not to the last control clicked
    ActionChains(browser).send_keys(Keys.SPACE).perform()
    wait.until(lambda _: not js("return document.getElementById('audio').paused"))
    ActionChains(browser).send_keys(Keys.SPACE).perform()
    wait.until(lambda _: js("return document.getElementById('audio').paused"))
    browser.find_element(By.ID, "tempo-bpm").send_keys(Keys.SPACE)
    assert js("return document.getElementById('audio').paused")
    browser.save_screenshot(str(shots / "studio_edits.png"))

    browser.set_window_size(420, 900)  # a phone held upright: no sideways scrolling
    wait.until(lambda _: js("return window.innerWidth") <= 420)
    assert js("return document.documentElement.scrollWidth <= window.innerWidth"), \
        js("return [document.documentElement.scrollWidth, window.innerWidth]")
    wider = js("return [...document.querySelectorAll('#project *')].filter((e) => e.offsetParent !== null && "
               "e.getBoundingClientRect().right > window.innerWidth + 1).map((e) => e.id || e.className)")
    assert not wider, wider
    browser.save_screenshot(str(shots / "studio_420px.png"))
    js("document.querySelector('.columns').scrollIntoView();")
    browser.save_screenshot(str(shots / "studio_420px_tracks.png"))

    refused = ("favicon", "/variation - ", "/export.zip?")  # the two refused on purpose above log their 422
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"
              and not any(part in e["message"] for part in refused)]
    assert not severe, severe
    for shot in shots.iterdir():
        assert shot.stat().st_size > 10_000
