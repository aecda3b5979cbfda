// midivae studio: the page over the JSON API of midivae/studio/server.py. No build step,
// nothing fetched from elsewhere: the server renders audio and files, the page draws rolls.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { models: [], clips: new Map(), favourites: [], path: [], directions: [] };
const TRACK_COLOURS = ["#d9480f", "#1971c2", "#2f9e44", "#9c36b5", "#e67700", "#0c8599"];

function say(text) {
  const box = $("message");
  box.textContent = text || "";
  box.hidden = !text;
}

async function api(path, body, raw) {
  const options = body === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": raw ? "application/octet-stream" : "application/json" },
    body: raw ? body : JSON.stringify(body),
  };
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({ error: `server answered ${response.status}` }));
  if (!response.ok) throw new Error(data.error || `server answered ${response.status}`);
  say("");
  return data;
}

async function busy(button, work) {
  const label = button.textContent;
  button.disabled = true;
  button.textContent = "…";
  try { await work(); } catch (err) { say(err.message); }
  finally { button.disabled = false; button.textContent = label; }
}

function model() { return state.models.find((m) => m.name === $("model").value); }

// -- drawing a clip: one panel per track, bar lines, notes as bars ---------------------------
function drawRoll(canvas, clip) {
  const tracks = clip.tracks;
  const panel = 70, width = Math.max(clip.steps * 6, 300);
  canvas.width = width;
  canvas.height = panel * tracks.length;
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, canvas.width, canvas.height);
  const x = (step) => (step / clip.steps) * width;
  tracks.forEach((track, k) => {
    const top = k * panel;
    const pitches = track.notes.map((n) => n[0]);
    const low = Math.min(...pitches, 60) - 1, high = Math.max(...pitches, 72) + 1;
    const y = (p) => top + panel - 4 - ((p - low) / (high - low)) * (panel - 14);
    g.fillStyle = "#666";
    g.font = "10px sans-serif";
    g.fillText(track.name, 3, top + 10);
    g.strokeStyle = "#ccc";
    clip.bar_lines.forEach((step) => {
      g.beginPath(); g.moveTo(x(step) + 0.5, top); g.lineTo(x(step) + 0.5, top + panel); g.stroke();
    });
    g.strokeStyle = "#999";
    g.beginPath(); g.moveTo(0, top + panel - 0.5); g.lineTo(width, top + panel - 0.5); g.stroke();
    g.fillStyle = TRACK_COLOURS[k % TRACK_COLOURS.length];
    track.notes.forEach(([pitch, start, end]) => {
      g.fillRect(x(start), y(pitch) - 2, Math.max(x(end) - x(start) - 1, 1), 4);
    });
  });
}

function play(clip) {
  const player = $("player");
  player.src = `/api/clips/${clip.id}.wav`;
  player.play().catch((err) => say(`cannot play: ${err.message}`));
}

function clipView(clip, { favourite = true } = {}) {
  const box = document.createElement("div");
  box.className = "clip";
  box.dataset.id = clip.id;
  const title = document.createElement("span");
  title.className = "title";
  title.textContent = `${clip.title} · ${clip.model} · ${clip.bar_lines.length} bars · ${clip.notes} notes`;
  box.append(title);
  const playButton = document.createElement("button");
  playButton.textContent = "Play";
  playButton.onclick = () => play(clip);
  box.append(playButton);
  for (const kind of ["mid", "musicxml"]) {
    const link = document.createElement("a");
    link.href = `/api/clips/${clip.id}.${kind}`;
    link.textContent = kind === "mid" ? "MIDI" : "MusicXML";
    link.className = `download-${kind}`;
    link.download = `midivae-${clip.id}.${kind}`;
    box.append(link);
  }
  if (favourite) {
    const star = document.createElement("button");
    star.textContent = "★ Keep";
    star.onclick = () => addFavourite(clip);
    box.append(star);
  }
  const canvas = document.createElement("canvas");
  box.append(canvas);
  drawRoll(canvas, clip);
  return box;
}

function addClips(clips) {
  const list = $("clips");
  for (const clip of clips) {
    state.clips.set(clip.id, clip);
    list.prepend(clipView(clip));
  }
  refreshChoices();
}

function refreshChoices() {
  const mine = [...state.clips.values()].filter((c) => c.model === $("model").value);
  document.querySelectorAll(".clip-choice").forEach((select) => {
    const before = select.value;
    select.replaceChildren(...mine.map((c) => new Option(`${c.title} (${c.id.slice(0, 4)})`, c.id)));
    if (mine.some((c) => c.id === before)) select.value = before;
  });
  if (mine.length > 1 && $("to").value === $("from").value) $("to").selectedIndex = 1;
}

function addFavourite(clip) {
  if (state.favourites.includes(clip.id)) return;
  state.favourites.push(clip.id);
  const item = document.createElement("li");
  item.textContent = `${clip.title} · ${clip.model}`;
  $("favourites").append(item);
}

async function download(path, body, name) {
  const response = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" },
                                       body: JSON.stringify(body) });
  if (!response.ok) throw new Error((await response.json()).error);
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  link.click();
  URL.revokeObjectURL(url);
}

// -- the model ---------------------------------------------------------------------------------
function chooseModel() {
  const m = model();
  $("about").textContent = `${m.about} · ${m.tracks.join(", ")} · ${m.bars} bars of ${m.meter[0]}/${m.meter[1]}`;
  $("bars").value = m.bars;
  $("bars").step = m.bars;
  $("bars").min = m.bars;
  $("temperature").value = m.temperature;
  $("label-box").hidden = !m.labels.length;
  $("label").replaceChildren(...m.labels.map((l) => new Option(l, l)));
  $("keep").replaceChildren(...m.tracks.map((t) => new Option(t, t)));
  if ($("keep").options.length) $("keep").options[0].selected = true;
  $("sliders").replaceChildren();
  state.directions = [];
  refreshChoices();
}

async function start() {
  try {
    state.models = (await api("/api/models")).models;
  } catch (err) { say(err.message); return; }
  $("model").replaceChildren(...state.models.map((m) => new Option(m.name, m.name)));
  $("model").onchange = chooseModel;
  chooseModel();

  $("sample").onclick = () => busy($("sample"), async () => {
    const m = model();
    const body = { model: m.name, n: Number($("n").value), bars: Number($("bars").value),
                   temperature: Number($("temperature").value), qpm: Number($("qpm").value),
                   seed: Math.floor(Math.random() * 2 ** 31) };
    if (m.labels.length) body.label = $("label").value;
    addClips((await api("/api/sample", body)).clips);
  });

  $("upload").onchange = async () => {
    const file = $("upload").files[0];
    if (!file) return;
    try {
      const query = `model=${encodeURIComponent(model().name)}&name=${encodeURIComponent(file.name)}`;
      const data = await api(`/api/upload?${query}`, await file.arrayBuffer(), true);
      addClips([data.clip]);
      if (data.clip.warnings.length) say(data.clip.warnings.join(" "));
    } catch (err) { say(err.message); }
    $("upload").value = "";
  };

  $("interpolate").onclick = () => busy($("interpolate"), async () => {
    const data = await api("/api/interpolate", { model: model().name, a: $("from").value,
                                                 b: $("to").value, steps: Number($("points").value) });
    state.path = data.clips;
    data.clips.forEach((c) => state.clips.set(c.id, c));
    $("path").hidden = false;
    $("path-slider").max = data.clips.length - 1;
    $("path-slider").value = 0;
    showPathPoint(false);
  });
  $("path-slider").oninput = () => showPathPoint(true);

  $("steer-load").onclick = () => busy($("steer-load"), loadSliders);

  $("variations").onclick = () => busy($("variations"), async () => {
    addClips((await api("/api/variations", { model: model().name, clip: $("edit-clip").value,
                                             n: 4, amount: 0.3 })).clips);
  });
  $("inpaint").onclick = () => busy($("inpaint"), async () => {
    const [first, last = first] = $("fill-bars").value.split("-").map(Number);
    addClips([(await api("/api/inpaint", { model: model().name, clip: $("edit-clip").value,
                                           bars: [first, last] })).clip]);
  });
  $("harmonise").onclick = () => busy($("harmonise"), async () => {
    const keep = [...$("keep").selectedOptions].map((o) => o.value);
    addClips([(await api("/api/harmonise", { model: model().name, clip: $("edit-clip").value,
                                             keep })).clip]);
  });
  $("fav-midi").onclick = () => busy($("fav-midi"), () =>
    download("/api/bundle", { clips: state.favourites, format: "mid" }, "midivae-favourites.mid"));
  $("fav-zip").onclick = () => busy($("fav-zip"), () =>
    download("/api/bundle", { clips: state.favourites, format: "zip" }, "midivae-favourites.zip"));
}

function showPathPoint(andPlay) {
  const i = Number($("path-slider").value);
  const clip = state.path[i];
  $("path-at").textContent = `point ${i + 1} of ${state.path.length}`;
  $("path-clip").replaceChildren(clipView(clip));
  if (andPlay) play(clip);
}

let steerTimer = null;
async function loadSliders() {
  const name = model().name;
  state.directions = (await api(`/api/directions?model=${encodeURIComponent(name)}`)).directions;
  $("sliders").replaceChildren(...state.directions.map((d) => {
    const label = document.createElement("label");
    const slider = document.createElement("input");
    Object.assign(slider, { type: "range", min: -2, max: 2, step: 0.1, value: 0 });
    slider.dataset.direction = d;
    slider.oninput = () => { clearTimeout(steerTimer); steerTimer = setTimeout(steer, 250); };
    label.append(d, slider);
    return label;
  }));
}

async function steer() {
  const moves = {};
  document.querySelectorAll("#sliders input").forEach((s) => { moves[s.dataset.direction] = Number(s.value); });
  try {
    const data = await api("/api/move", { model: model().name, clip: $("steer-clip").value, moves });
    state.clips.set(data.clip.id, data.clip);
    $("steer-clip-view").replaceChildren(clipView(data.clip));
  } catch (err) { say(err.message); }
}

start();
