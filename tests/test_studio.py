"""midivae studio: every endpoint through Starlette's test client, bad requests as one-line
400s, and the page in a real headless Chromium (selenium), served by uvicorn, with the
shipped models."""

from __future__ import annotations

import io
import os
import shutil
import socket
import threading
import time
import wave
import zipfile

import mido
import pytest
from conftest import meter, midi_file, note, track

pytest.importorskip("starlette", reason="the studio extra is not installed (pip install "
                    "'midivae[studio]')")
from starlette.testclient import TestClient  # noqa: E402

from midivae.studio import Studio, create_app  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(Studio(["chorale", "folk", "pop"])))


@pytest.fixture(scope="module")
def clips(client) -> list[str]:
    r = client.post("/api/sample", json={"model": "chorale", "n": 2, "seed": 1})
    assert r.status_code == 200
    return [c["id"] for c in r.json()["clips"]]


def error(r, status: int = 400) -> str:
    assert r.status_code == status, r.text
    message = r.json()["error"]
    assert "\n" not in message and "Traceback" not in message
    return message


def test_the_models_are_listed_from_their_cards(client):
    models = client.get("/api/models").json()["models"]
    assert [m["name"] for m in models] == ["chorale", "folk", "pop"]
    chorale = models[0]
    assert chorale["tracks"] == ["soprano", "alto", "tenor", "bass"] and chorale["bars"] == 4
    assert chorale["meter"] == [4, 4] and chorale["temperature"] == 0.5


def test_sample_gives_clips_to_draw_at_the_asked_tempo(client):
    r = client.post("/api/sample", json={"model": "folk", "n": 2, "bars": 16, "qpm": 90,
                                         "temperature": 0.5, "seed": 3})
    got = r.json()["clips"]
    assert len(got) == 2 and got[0]["steps"] == 256 and got[0]["qpm"] == 90
    assert got[0]["bar_lines"] == list(range(0, 256, 16))
    notes = got[0]["tracks"][0]["notes"]
    assert got[0]["notes"] == len(notes) > 0
    assert all(48 <= p <= 84 and 0 <= s < e <= 256 and 1 <= v <= 127 for p, s, e, v in notes)
    again = client.post("/api/sample", json={"model": "folk", "n": 2, "bars": 16, "qpm": 90,
                                             "temperature": 0.5, "seed": 3}).json()["clips"]
    assert again[0]["tracks"] == got[0]["tracks"]  # a seed repeats


@pytest.mark.parametrize("body, message", [
    ({"model": "nope"}, "unknown model 'nope'; this studio has chorale, folk, pop"),
    ({"model": "chorale", "n": 0}, "n must be a whole number from 1 to 16, got 0"),
    ({"model": "chorale", "n": 10**9}, "n must be a whole number from 1 to 16"),
    ({"model": "chorale", "n": 1.5}, "n must be a whole number"),
    ({"model": "chorale", "temperature": -1}, "temperature must be a number from 0 to 2"),
    ({"model": "chorale", "temperature": "hot"}, "temperature must be a number"),
    ({"model": "chorale", "bars": 6}, "bars must be a multiple of 4 for model 'chorale'"),
    ({"model": "chorale", "bars": 4000}, "bars must be a whole number from 1 to 64"),
    ({"model": "chorale", "qpm": 0}, "qpm must be a number from 20 to 300"),
    ({"model": "chorale", "label": "essen"}, "not conditioned on labels"),
])
def test_a_bad_sample_request_is_one_line(client, body, message):
    assert message in error(client.post("/api/sample", json=body))


def test_a_request_that_is_not_a_json_object_is_refused(client):
    assert "not JSON" in error(client.post("/api/sample", content=b"{nope"))
    assert "must be a JSON object" in error(client.post("/api/sample", json=[1, 2]))
    assert "too large" in error(client.post("/api/sample", content=b" " * 70000))


def test_interpolate_walks_between_two_clips(client, clips):
    r = client.post("/api/interpolate", json={"model": "chorale", "a": clips[0], "b": clips[1],
                                              "steps": 5})
    path = r.json()["clips"]
    assert len(path) == 5 and [c["title"] for c in path][-1] == "path 5/5"
    assert "no clip 'x'" in error(client.post("/api/interpolate", json={
        "model": "chorale", "a": "x", "b": clips[1]}))
    assert "steps must be a whole number from 2 to 16" in error(client.post(
        "/api/interpolate", json={"model": "chorale", "a": clips[0], "b": clips[1],
                                  "steps": 1}))


def tune_bytes() -> bytes:
    buf = io.BytesIO()
    midi_file(track(meter(0, 4, 4), *[e for i in range(16) for e in
                                      note(i * 480, (i + 1) * 480, [67, 69, 71, 72][i % 4])])
              ).save(file=buf)
    return buf.getvalue()


def test_an_upload_is_fitted_and_a_broken_one_said_in_one_line(client):
    r = client.post("/api/upload?model=chorale&name=tune.mid", content=tune_bytes())
    clip = r.json()["clip"]
    assert clip["title"] == "tune.mid" and clip["tracks"][0]["name"] == "soprano"
    assert [n[0] for n in clip["tracks"][0]["notes"][:4]] == [67, 69, 71, 72]
    assert any("taken in file order" in w for w in clip["warnings"])
    broken = b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\x00\x00\x00\x09\x00\x90"
    message = error(client.post("/api/upload?model=chorale&name=broken.mid", content=broken))
    assert message.startswith("broken.mid: ") and "/tmp" not in message
    assert "not a MIDI file" in error(client.post("/api/upload?model=chorale&name=a.txt",
                                                  content=b"hello"))
    big = b"MThd" + b"\x00" * (3 * 2**20)
    assert "larger than 2 MB" in error(client.post("/api/upload?model=chorale", content=big))


def test_variations_moves_and_directions(client, clips):
    r = client.post("/api/variations", json={"model": "chorale", "clip": clips[0], "n": 3,
                                             "amount": 0.4, "seed": 1})
    assert len(r.json()["clips"]) == 3
    names = client.get("/api/directions?model=chorale").json()["directions"]
    assert names == ["density", "register", "syncopation", "axis 1", "axis 2"]
    low = client.post("/api/move", json={"model": "chorale", "clip": clips[0],
                                         "moves": {"register": -2}}).json()["clip"]
    high = client.post("/api/move", json={"model": "chorale", "clip": clips[0],
                                          "moves": {"register": 2}}).json()["clip"]

    def mean_pitch(c):
        pitches = [n[0] for t in c["tracks"] for n in t["notes"]]
        return sum(pitches) / len(pitches)
    assert mean_pitch(high) > mean_pitch(low)  # the register slider moves the register
    assert "unknown direction 'loud'" in error(client.post("/api/move", json={
        "model": "chorale", "clip": clips[0], "moves": {"loud": 1}}))
    assert "register must be a number from -3 to 3" in error(client.post("/api/move", json={
        "model": "chorale", "clip": clips[0], "moves": {"register": 9}}))


def test_fill_in_and_harmonise_keep_what_is_given(client, clips):
    before = client.post("/api/bundle", json={"clips": [clips[0]], "format": "mid"})
    assert before.status_code == 200
    r = client.post("/api/inpaint", json={"model": "chorale", "clip": clips[0], "bars": [2, 3],
                                          "seed": 0})
    assert r.json()["clip"]["title"] == "bars 2-3 anew"
    assert "reach past its end" in error(client.post("/api/inpaint", json={
        "model": "chorale", "clip": clips[0], "bars": [3, 9]}))
    assert "bars must be [first, last]" in error(client.post("/api/inpaint", json={
        "model": "chorale", "clip": clips[0], "bars": 3}))
    r = client.post("/api/harmonise", json={"model": "chorale", "clip": clips[0],
                                            "keep": ["soprano"]})
    assert r.json()["clip"]["title"] == "soprano kept"
    assert "has the tracks soprano, alto" in error(client.post("/api/harmonise", json={
        "model": "chorale", "clip": clips[0], "keep": ["lead"]}))


def test_downloads_open_in_their_readers(client, clips):
    mid = client.get(f"/api/clips/{clips[0]}.mid")
    assert mid.headers["content-type"] == "audio/midi"
    assert len(mido.MidiFile(file=io.BytesIO(mid.content)).tracks) >= 4
    assert b"<score-partwise" in client.get(f"/api/clips/{clips[0]}.musicxml").content
    with wave.open(io.BytesIO(client.get(f"/api/clips/{clips[0]}.wav").content)) as w:
        assert w.getnchannels() == 2 and w.getnframes() > 22050 * 4
    assert "unknown format 'exe'" in error(client.get(f"/api/clips/{clips[0]}.exe"))
    both = client.post("/api/bundle", json={"clips": clips, "format": "mid"})
    song = mido.MidiFile(file=io.BytesIO(both.content))
    one = mido.MidiFile(file=io.BytesIO(mid.content))
    assert song.length == pytest.approx(2 * one.length, abs=0.01)
    z = zipfile.ZipFile(io.BytesIO(client.post("/api/bundle", json={
        "clips": clips, "format": "zip"}).content))
    assert len(z.namelist()) == 2 and z.namelist()[0].endswith(".mid")
    folk = client.post("/api/sample", json={"model": "folk", "seed": 0}).json()["clips"][0]
    assert "download them as a zip" in error(client.post("/api/bundle", json={
        "clips": [clips[0], folk["id"]], "format": "mid"}))


# -- the page in a real browser ---------------------------------------------------------------

def chromium() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        pytest.skip("Debian's chromium and chromium-driver are not installed (apt-get install "
                    "chromium chromium-driver; .ci/run installs them)")
    pytest.importorskip("selenium", reason="selenium is not installed (the dev extra)")
    return browser, driver


@pytest.fixture(scope="module")
def served():
    """The studio served by uvicorn on a free port of 127.0.0.1, in a thread."""
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(Studio(["chorale", "folk"])),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(10)


@pytest.mark.slow
def test_the_page_samples_draws_interpolates_and_downloads(served, tmp_path):
    browser, driver_path = chromium()
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--window-size=1400,1000"):
        options.add_argument(arg)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads)})
    driver = webdriver.Chrome(options=options,
                              service=webdriver.ChromeService(executable_path=driver_path))
    wait = WebDriverWait(driver, 60)
    try:
        driver.get(served)
        wait.until(lambda d: d.find_element(By.ID, "model").get_attribute("value") == "chorale")
        driver.find_element(By.ID, "sample").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#clips .clip canvas")) == 2)
        inked = driver.execute_script(
            "const c = document.querySelector('#clips canvas');"
            "const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
            "let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++; return n;")
        assert inked > 500  # notes and bar lines drawn
        shot = os.environ.get("MIDIVAE_STUDIO_SCREENSHOT")
        driver.save_screenshot(str(shot or tmp_path / "studio.png"))
        driver.find_element(By.ID, "interpolate").click()
        wait.until(seen.visibility_of_element_located((By.ID, "path-slider")))
        assert driver.find_element(By.ID, "path-at").text == "point 1 of 8"
        driver.find_element(By.ID, "path-slider").send_keys(Keys.ARROW_RIGHT)
        wait.until(lambda d: d.find_element(By.ID, "path-at").text == "point 2 of 8")
        assert driver.find_elements(By.CSS_SELECTOR, "#path-clip canvas")
        driver.find_element(By.CSS_SELECTOR, "#clips .clip a.download-mid").click()
        deadline = time.time() + 30
        while time.time() < deadline and not list(downloads.glob("*.mid")):
            time.sleep(0.1)
        (got,) = list(downloads.glob("*.mid"))
        assert len(mido.MidiFile(got).tracks) >= 4
        assert not driver.find_element(By.ID, "message").is_displayed()
    finally:
        driver.quit()


def test_the_page_and_its_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and '<script src="/static/studio.js">' in page.text
    js = client.get("/static/studio.js")
    assert js.status_code == 200 and "/api/sample" in js.text
    assert "http://" not in js.text and "https://" not in js.text + page.text  # nothing fetched


@pytest.mark.slow
def test_the_command_serves_the_page_and_refuses_a_port_in_use(tmp_path):
    import subprocess
    import sys
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "midivae.cli", "studio", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith(f"midivae studio: http://127.0.0.1:{port}/ with chorale")
        deadline = time.time() + 30
        while True:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read()
                break
            except OSError:
                assert time.time() < deadline
                time.sleep(0.1)
        assert b"midivae studio" in page
        again = subprocess.run([sys.executable, "-m", "midivae.cli", "studio", "--port",
                                str(port)], capture_output=True, text=True, timeout=60)
        assert again.returncode == 1 and again.stderr.count("\n") == 1
        assert f"cannot listen on 127.0.0.1:{port}" in again.stderr
    finally:
        proc.terminate()
        proc.wait(10)
